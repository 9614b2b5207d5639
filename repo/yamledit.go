package repo

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// The files people write (specs, grader cards, the taxonomy) are edited as
// yaml.v3 node trees rather than decoded structs, so that comments, key order
// and styles survive. The helpers below are the one set of mapping-node
// operations those edits share.

// keyIndex is the index in the mapping m's Content of key's key node, or -1.
func keyIndex(m *yaml.Node, key string) int {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return i
		}
	}
	return -1
}

// mappingEntry returns the key and value nodes of key in the mapping m.
func mappingEntry(m *yaml.Node, key string) (k, v *yaml.Node) {
	if i := keyIndex(m, key); i >= 0 {
		return m.Content[i], m.Content[i+1]
	}
	return nil, nil
}

// setKey replaces a key's value (keeping the comments around the old value)
// or appends the key.
func setKey(m *yaml.Node, key string, v *yaml.Node) {
	i := keyIndex(m, key)
	if i < 0 {
		insertEntry(m, len(m.Content), strNode(key), v)
		return
	}
	if old := m.Content[i+1]; old != v {
		v.LineComment, v.FootComment = old.LineComment, old.FootComment
		if v.HeadComment == "" {
			v.HeadComment = old.HeadComment
		}
	}
	m.Content[i+1] = v
}

// delKey removes key and its value from the mapping m.
func delKey(m *yaml.Node, key string) {
	if i := keyIndex(m, key); i >= 0 {
		m.Content = append(m.Content[:i], m.Content[i+2:]...)
	}
}

// insertEntry inserts the pair k: v into the mapping m at Content index at.
func insertEntry(m *yaml.Node, at int, k, v *yaml.Node) {
	m.Content = append(m.Content[:at], append([]*yaml.Node{k, v}, m.Content[at:]...)...)
}

func strNode(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func intNode(n int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(n)}
}

// floatNode writes f rounded to at most decimals places, untagged so that a
// whole number reads as one (1, not 1.0).
func floatNode(f float64, decimals int) *yaml.Node {
	p := math.Pow(10, float64(decimals))
	return &yaml.Node{Kind: yaml.ScalarNode, Value: strconv.FormatFloat(math.Round(f*p)/p, 'f', -1, 64)}
}

// RewriteParameters returns the spec YAML with experiment.parameters set to
// params. Only the lines of the parameters block change (or, when the spec
// has none, a block is inserted after editable:, else after goal:, else at
// the end of the experiment block), so merging a candidate branch changes
// parameters: and nothing else in the spec. Comments and formatting of the
// rest of the file are kept byte for byte; a line comment on the
// `parameters:` line is kept too. Maps are written in block style with
// sorted keys and 2-space indentation.
//
// When the spec is laid out so that no line splice is possible (a flow-style
// experiment block, say), the whole document is re-encoded from its node tree,
// which keeps comments and key order but not all formatting.
func RewriteParameters(spec []byte, params Parameters) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(spec, &doc); err != nil {
		return nil, fmt.Errorf("parse spec: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("spec is not a YAML mapping")
	}
	root := doc.Content[0]
	_, exp := mappingEntry(root, "experiment")
	if exp == nil {
		return nil, errors.New("spec has no experiment: block")
	}
	if exp.Kind != yaml.MappingNode {
		return nil, errors.New("spec's experiment: is not a mapping")
	}
	if params == nil {
		params = Parameters{}
	}
	value, err := valueNode(map[string]any(params))
	if err != nil {
		return nil, err
	}

	want, err := expectedDocument(spec, value)
	if err != nil {
		return nil, err
	}
	if _, old := mappingEntry(exp, "parameters"); old != nil {
		carryComments(old, value)
	}
	if exp.Style&yaml.FlowStyle == 0 {
		if out, ok := spliceParameters(spec, exp, value); ok && sameDocument(out, want) {
			return out, nil
		}
	}

	// Fallback: edit the node tree and encode the whole document.
	if i := keyIndex(exp, "parameters"); i >= 0 {
		exp.Content[i+1] = value
	} else {
		insertEntry(exp, insertionIndex(exp), strNode("parameters"), value)
	}
	out, err := EncodeYAML(&doc)
	if err != nil {
		return nil, fmt.Errorf("encode spec: %w", err)
	}
	if !sameDocument(out, want) {
		return nil, errors.New("rewriting the spec's parameters changed more than the parameters (please report this)")
	}
	return out, nil
}

// insertionIndex is where a missing parameters key goes in the experiment
// mapping's Content: after editable:, else after goal:, else at the end.
func insertionIndex(exp *yaml.Node) int {
	for _, after := range []string{"editable", "goal"} {
		if i := keyIndex(exp, after); i >= 0 {
			return i + 2
		}
	}
	return len(exp.Content)
}

// spliceParameters replaces (or inserts) the lines of the parameters block
// and leaves every other byte alone. ok is false when the layout does not
// allow a line splice.
func spliceParameters(spec []byte, exp, value *yaml.Node) (out []byte, ok bool) {
	lines := splitLines(spec)
	eol := "\n"
	if bytes.Contains(spec, []byte("\r\n")) {
		eol = "\r\n"
	}
	key, val := mappingEntry(exp, "parameters")
	var anchor *yaml.Node
	if key == nil {
		at := insertionIndex(exp)
		if at == 0 {
			return nil, false
		}
		anchor = exp.Content[at-2]
	} else {
		anchor = key
	}
	start := anchor.Line - 1
	indent := anchor.Column - 1
	if start < 0 || start >= len(lines) || indent < 0 || indent > len(lines[start]) ||
		strings.Trim(lines[start][:indent], " ") != "" {
		return nil, false
	}

	var b strings.Builder
	if key == nil {
		end := blockEnd(lines, start, indent, true)
		for _, l := range lines[:end+1] {
			b.WriteString(l)
		}
		if !strings.HasSuffix(lines[end], "\n") {
			b.WriteString(eol)
		}
		block, err := renderBlock(value, indent, "", eol)
		if err != nil {
			return nil, false
		}
		b.WriteString(block)
		for _, l := range lines[end+1:] {
			b.WriteString(l)
		}
		return []byte(b.String()), true
	}

	// Comment lines below the block's last value stay where they are;
	// those are not rendered again from the nodes yaml hung them on.
	end := blockEnd(lines, start, indent, false)
	dropFootComments(value, lines[end+1:blockEnd(lines, start, indent, true)+1])
	comment := key.LineComment
	if comment == "" && end == start && val.Line == key.Line {
		comment = val.LineComment
	}
	block, err := renderBlock(value, indent, comment, eol)
	if err != nil {
		return nil, false
	}
	for _, l := range lines[:start] {
		b.WriteString(l)
	}
	if !strings.HasSuffix(lines[end], "\n") {
		block = strings.TrimSuffix(block, eol)
	}
	b.WriteString(block)
	for _, l := range lines[end+1:] {
		b.WriteString(l)
	}
	return []byte(b.String()), true
}

// carryComments copies the comments around each entry of the old
// parameters mapping onto the entry of the new one with the same key, at
// every depth, so a rewrite keeps what people wrote about a parameter
// (above it, after it on its line, below it). Entries that are gone take
// their comments with them.
func carryComments(old, new *yaml.Node) {
	if old.Kind != yaml.MappingNode || new.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(new.Content); i += 2 {
		ok, ov := mappingEntry(old, new.Content[i].Value)
		if ok == nil {
			continue
		}
		nk, nv := new.Content[i], new.Content[i+1]
		nk.HeadComment, nk.LineComment, nk.FootComment = ok.HeadComment, ok.LineComment, ok.FootComment
		nv.HeadComment, nv.LineComment, nv.FootComment = ov.HeadComment, ov.LineComment, ov.FootComment
		if nv.Kind == yaml.MappingNode && nv.Style&yaml.FlowStyle == 0 && nk.LineComment == "" {
			// yaml writes a block mapping's line comment nowhere: it
			// belongs after the key ("key: {a: 1} # c" becomes "key: # c").
			nk.LineComment, nv.LineComment = nv.LineComment, ""
		}
		carryComments(ov, nv)
	}
	new.FootComment = old.FootComment
}

// dropFootComments removes, at every depth of n, the foot comments made
// of lines that are among kept (the comment lines a splice leaves as they
// are), so they are not written twice.
func dropFootComments(n *yaml.Node, kept []string) {
	set := map[string]bool{}
	for _, l := range kept {
		set[strings.TrimSpace(l)] = true
	}
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		if n.FootComment != "" && allLinesIn(n.FootComment, set) {
			n.FootComment = ""
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
}

func allLinesIn(comment string, set map[string]bool) bool {
	for _, l := range strings.Split(comment, "\n") {
		if l = strings.TrimSpace(l); l != "" && !set[l] {
			return false
		}
	}
	return true
}

// splitLines splits s after each "\n", keeping the terminators.
func splitLines(s []byte) []string {
	var lines []string
	for len(s) > 0 {
		i := bytes.IndexByte(s, '\n')
		if i < 0 {
			lines = append(lines, string(s))
			break
		}
		lines = append(lines, string(s[:i+1]))
		s = s[i+1:]
	}
	return lines
}

// blockEnd returns the index of the last line of the block whose key is on
// line start at column indent: the last following line indented deeper,
// before the first non-blank line that is not. Comment lines only extend the
// block when withComments is set; blank lines never do.
func blockEnd(lines []string, start, indent int, withComments bool) int {
	end := start
	for i := start + 1; i < len(lines); i++ {
		t := strings.TrimRight(lines[i], "\r\n")
		if strings.TrimSpace(t) == "" {
			continue
		}
		rest := strings.TrimLeft(t, " ")
		if len(t)-len(rest) <= indent {
			break
		}
		if strings.HasPrefix(rest, "#") && !withComments {
			continue
		}
		end = i
	}
	return end
}

// renderBlock encodes "parameters: <value>" indented by indent spaces.
func renderBlock(value *yaml.Node, indent int, comment, eol string) (string, error) {
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{strNode("parameters"), value}}
	out, err := EncodeYAML(m)
	if err != nil {
		return "", err
	}
	pad := strings.Repeat(" ", indent)
	var b strings.Builder
	for i, l := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		if l != "" {
			b.WriteString(pad)
			b.WriteString(l)
		}
		if i == 0 && comment != "" {
			b.WriteString(" ")
			b.WriteString(comment)
		}
		b.WriteString(eol)
	}
	return b.String(), nil
}

// valueNode builds the YAML node for a parameters value: maps in block style
// with sorted keys, lists of one-line scalars in flow style, floats keeping a
// decimal point so they read back as floats.
func valueNode(v any) (*yaml.Node, error) {
	switch x := v.(type) {
	case Parameters:
		return valueNode(map[string]any(x))
	case map[string]any:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		if len(x) == 0 {
			n.Style = yaml.FlowStyle
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			kn := new(yaml.Node)
			if err := kn.Encode(k); err != nil {
				return nil, err
			}
			vn, err := valueNode(x[k])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			n.Content = append(n.Content, kn, vn)
		}
		return n, nil
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
		for i, e := range x {
			en, err := valueNode(e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			if en.Kind != yaml.ScalarNode || en.Style == yaml.LiteralStyle {
				n.Style = 0
			}
			n.Content = append(n.Content, en)
		}
		return n, nil
	case string:
		n := strNode(x)
		if strings.Contains(x, "\n") {
			n.Style = yaml.LiteralStyle
			if !literalSafe(x) {
				n.Style = yaml.DoubleQuotedStyle
			}
			return n, nil
		}
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: strconv.FormatFloat(x, 'f', 1, 64)}, nil
		}
	}
	n := new(yaml.Node)
	if err := n.Encode(v); err != nil {
		return nil, err
	}
	return n, nil
}

// literalSafe reports whether a multi-line string reads back exactly from a
// literal block (|): no leading spaces on its first line, no trailing spaces
// or carriage returns, and at most one final newline.
func literalSafe(s string) bool {
	if strings.TrimSpace(s) == "" || strings.HasPrefix(s, " ") || strings.HasPrefix(s, "\n") ||
		strings.HasSuffix(s, "\n\n") || strings.ContainsAny(s, "\r\t") {
		return false
	}
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimRight(l, " ") != l {
			return false
		}
	}
	return true
}

// expectedDocument is the spec decoded, with experiment.parameters set to
// what value decodes to: what any rewrite must decode to.
func expectedDocument(spec []byte, value *yaml.Node) (any, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(spec, &doc); err != nil {
		return nil, fmt.Errorf("parse spec: %w", err)
	}
	var p any
	if err := value.Decode(&p); err != nil {
		return nil, err
	}
	exp, ok := doc["experiment"].(map[string]any)
	if !ok {
		return nil, errors.New("spec's experiment: is not a mapping")
	}
	exp["parameters"] = p
	return doc, nil
}

func sameDocument(out []byte, want any) bool {
	var got map[string]any
	if err := yaml.Unmarshal(out, &got); err != nil {
		return false
	}
	return reflect.DeepEqual(got, want)
}
