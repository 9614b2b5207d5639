package repo

import (
	"bytes"
	"os"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// FormatDataset returns the canonical form of a JSONL dataset: one canonical
// JSON object a line, sorted by the case's explicit id, else its name; cases
// with neither follow in file order. Never by content hash: editing a case
// keeps its line, so a review diff shows the edit and nothing else. Comment
// lines (//) travel with the case that follows them; trailing comments stay
// at the end. Computed IDs are not written (they follow the content);
// explicit ids are kept.
func FormatDataset(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	type entry struct {
		key      string // explicit id, else name; "" for neither
		comments []string
		line     []byte
	}
	var entries []entry
	var pending []string
	var probs Problems
	err = EachLine(bytes.NewReader(data), func(line []byte, ln int, _ int64, _ bool) error {
		raw := bytes.TrimSpace(line)
		switch {
		case len(raw) == 0:
			return nil
		case bytes.HasPrefix(raw, []byte("//")):
			pending = append(pending, string(raw))
			return nil
		}
		c, p := DecodeCaseJSON(path, ln, raw)
		if len(p) > 0 {
			probs = append(probs, p...)
			return nil
		}
		out := *c
		if !c.explicitID {
			out.ID = ""
		}
		b, err := Canonical(&out)
		if err != nil {
			return err
		}
		key := c.Name
		if c.explicitID {
			key = c.ID
		}
		entries = append(entries, entry{key: key, comments: pending, line: b})
		pending = nil
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(probs) > 0 {
		return nil, probs
	}
	sort.SliceStable(entries, func(i, j int) bool {
		a, b := entries[i].key, entries[j].key
		if a == "" || b == "" {
			return a != "" && b == "" // keyed cases first; the rest stay in order
		}
		return a < b
	})
	var buf bytes.Buffer
	for _, e := range entries {
		for _, c := range e.comments {
			buf.WriteString(c)
			buf.WriteByte('\n')
		}
		buf.Write(e.line)
		buf.WriteByte('\n')
	}
	for _, c := range pending {
		buf.WriteString(c)
		buf.WriteByte('\n')
	}
	return buf.Bytes(), nil
}

// FormatYAML re-indents a YAML file with two spaces, keeping comments, key
// order and flow style.
func FormatYAML(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	node, err := parseYAML(path, data)
	if err != nil {
		return nil, err
	}
	out, err := EncodeYAML(node)
	if err != nil {
		return nil, err
	}
	return keepBlankLines(data, node, out)
}

// keepBlankLines puts back the blank lines people leave between blocks,
// which the YAML encoder drops: the output is parsed again and walked in
// step with the input, and a blank line goes before each output node whose
// input node had one before it (or before its head comment).
func keepBlankLines(in []byte, inNode *yaml.Node, out []byte) ([]byte, error) {
	var outNode yaml.Node
	if err := yaml.Unmarshal(out, &outNode); err != nil {
		return out, nil
	}
	inLines := strings.Split(string(in), "\n")
	blankBefore := map[int]bool{}
	var walk func(a, b *yaml.Node)
	walk = func(a, b *yaml.Node) {
		if a == nil || b == nil || a.Kind != b.Kind || len(a.Content) != len(b.Content) {
			return
		}
		step := 1
		if a.Kind == yaml.MappingNode {
			step = 2
		}
		if a.Kind == yaml.MappingNode || a.Kind == yaml.SequenceNode {
			for i := 0; i < len(a.Content); i += step {
				ak, bk := a.Content[i], b.Content[i]
				comment := 0
				if ak.HeadComment != "" {
					comment = strings.Count(ak.HeadComment, "\n") + 1
				}
				above := ak.Line - 1 - comment // 1-based line above the block
				if above >= 1 && above <= len(inLines) && strings.TrimSpace(inLines[above-1]) == "" && i > 0 {
					blankBefore[bk.Line-comment] = true
				}
			}
		}
		for i := range a.Content {
			walk(a.Content[i], b.Content[i])
		}
	}
	walk(inNode, &outNode)
	if len(blankBefore) == 0 {
		return out, nil
	}
	outLines := strings.SplitAfter(string(out), "\n")
	var buf bytes.Buffer
	for i, l := range outLines {
		if blankBefore[i+1] {
			buf.WriteByte('\n')
		}
		buf.WriteString(l)
	}
	return buf.Bytes(), nil
}

// EncodeYAML writes a YAML node tree with two-space indentation.
func EncodeYAML(node *yaml.Node) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(node); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	out := buf.Bytes()
	if !strings.HasSuffix(string(out), "\n") {
		out = append(out, '\n')
	}
	return out, nil
}
