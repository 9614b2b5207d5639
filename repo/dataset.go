package repo

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/goccy/go-json"
	"gopkg.in/yaml.v3"
)

// Dataset is a set of cases: a JSONL file streamed from disk, or the inline
// cases of a spec. Its ID (ds_…) is the hash of its sorted case IDs.
type Dataset struct {
	// Path is the JSONL file, or the spec file for inline cases.
	Path  string
	ID    string
	Count int

	inline []Case
	// ids are the case IDs in file order, from the validating pass; with
	// the file's size and time they let Each skip validation and hashing
	// when the file has not changed since.
	ids     []string
	size    int64
	modTime time.Time
}

// LoadDataset reads and validates a JSONL dataset: every bad line is
// reported, not just the first. Cases are not kept in memory: Each streams
// them again.
func LoadDataset(path string) (*Dataset, error) {
	return loadDataset(path, nil)
}

// loadDataset is LoadDataset with an extra check of each valid case.
func loadDataset(path string, check func(*Case) Problems) (*Dataset, error) {
	d := &Dataset{Path: path}
	if st, err := os.Stat(path); err == nil {
		d.size, d.modTime = st.Size(), st.ModTime()
	}
	ids := map[string]int{}
	var sorted []string
	var probs Problems
	err := scanCases(path, func(c *Case, p Problems) {
		if len(p) == 0 && check != nil {
			p = check(c)
		}
		if len(p) > 0 {
			probs = append(probs, p...)
			return
		}
		if first, dup := ids[c.ID]; dup {
			msg := fmt.Sprintf("duplicate case ID %s (same as line %d)", c.ID, first)
			hint := "two cases with the same content; remove one"
			if strings.HasPrefix(c.ID, "case_") {
				hint = "the two lines define the same case; remove one or make them differ"
			} else {
				hint = "explicit ids must be unique"
			}
			probs = append(probs, Problem{File: path, Line: c.Line, Col: 1, Field: "id", Msg: msg, Hint: hint})
			return
		}
		// The decoder may hand out strings that share its read buffer;
		// a copy keeps the buffer from living as long as the dataset.
		id := strings.Clone(c.ID)
		ids[id] = c.Line
		sorted = append(sorted, id)
	})
	if err != nil {
		return nil, err
	}
	if len(probs) > 0 {
		return nil, probs
	}
	if len(sorted) == 0 {
		return nil, Problems{{File: path, Msg: "dataset has no cases", Hint: "add one JSON object per line"}}
	}
	d.Count = len(sorted)
	d.ids = append([]string(nil), sorted...)
	d.ID = DatasetID(sorted)
	return d, nil
}

// DatasetID hashes a dataset's case IDs (in any order).
func DatasetID(caseIDs []string) string {
	ids := append([]string(nil), caseIDs...)
	sort.Strings(ids)
	// The canonical JSON of a list of strings, written directly: the same
	// bytes as Canonical(ids) without decoding a large array back.
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i, id := range ids {
		if i > 0 {
			buf.WriteByte(',')
		}
		writeCanonicalString(&buf, id)
	}
	buf.WriteByte(']')
	return HashBytesID("ds", buf.Bytes())
}

// Each calls fn for every case, in file order, streaming from disk.
func (d *Dataset) Each(fn func(*Case) error) error {
	if d.inline != nil {
		for i := range d.inline {
			if err := fn(&d.inline[i]); err != nil {
				return err
			}
		}
		return nil
	}
	if d.unchanged() {
		return d.eachValidated(fn)
	}
	var stop error
	err := scanCases(d.Path, func(c *Case, p Problems) {
		if stop != nil {
			return
		}
		if len(p) > 0 {
			stop = p
			return
		}
		stop = fn(c)
	})
	if err != nil {
		return err
	}
	if errors.Is(stop, ErrStop) {
		return nil
	}
	return stop
}

// unchanged reports whether the file is as it was validated.
func (d *Dataset) unchanged() bool {
	if d.ids == nil {
		return false
	}
	st, err := os.Stat(d.Path)
	return err == nil && st.Size() == d.size && st.ModTime().Equal(d.modTime)
}

// eachValidated streams a file that has already been validated: a plain
// decode per line, with the ID from the validating pass.
func (d *Dataset) eachValidated(fn func(*Case) error) error {
	i := 0
	err := eachCaseLine(d.Path, func(raw []byte, line int) error {
		if i >= len(d.ids) {
			return fmt.Errorf("%s changed while it was read", d.Path)
		}
		var c Case
		if err := json.Unmarshal(raw, &c); err != nil {
			return fmt.Errorf("%s:%d: %w", d.Path, line, err)
		}
		c.ID, c.Line = d.ids[i], line
		i++
		return fn(&c)
	})
	if errors.Is(err, ErrStop) {
		return nil
	}
	return err
}

// Cases loads every case into memory (for small datasets and tools that need
// random access).
func (d *Dataset) Cases() ([]Case, error) {
	var out []Case
	err := d.Each(func(c *Case) error {
		out = append(out, *c)
		return nil
	})
	return out, err
}

// ErrStop, returned by Each's function, ends Each early without an error.
var ErrStop = errors.New("stop")

// scanCases parses a JSONL file line by line; fn gets each case or the
// problems of its line.
func scanCases(path string, fn func(*Case, Problems)) error {
	return eachCaseLine(path, func(raw []byte, line int) error {
		fn(DecodeCaseJSON(path, line, raw))
		return nil
	})
}

// eachCaseLine calls fn with every line of a dataset that holds a case:
// blank lines and // comments are skipped.
func eachCaseLine(path string, fn func(raw []byte, line int) error) error {
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return &UserError{Msg: fmt.Sprintf("dataset %s not found", path), Hint: nearbyFileHint(path)}
		}
		return err
	}
	defer f.Close()
	err = EachLine(f, func(raw []byte, line int, _ int64, _ bool) error {
		trimmed := bytes.TrimSpace(raw)
		if len(trimmed) == 0 || bytes.HasPrefix(trimmed, []byte("//")) {
			return nil
		}
		return fn(trimmed, line)
	})
	if errors.Is(err, ErrLineTooLong) {
		return Problems{{File: path, Msg: err.Error()}}
	}
	return err
}

// DecodeCaseJSON decodes, validates and identifies one JSONL line. Valid
// lines take the fast path (a strict JSON decode); a line that fails is
// re-read as YAML (a superset of JSON) to name the line, column and field of
// every problem.
func DecodeCaseJSON(file string, line int, raw []byte) (*Case, Problems) {
	var c Case
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(&c)
	if err == nil && dec.More() {
		err = errors.New("extra data after the case object")
	}
	if err != nil {
		return nil, explainCaseLine(file, line, raw, err)
	}
	c.Line = line
	if probs := finishCase(&c, file, line, func(field string) (int, int) {
		return locateJSONField(raw, field)
	}); len(probs) > 0 {
		return nil, probs
	}
	return &c, nil
}

// explainCaseLine turns a failed JSON decode into positioned problems.
func explainCaseLine(file string, line int, raw []byte, jsonErr error) Problems {
	var node yaml.Node
	if !json.Valid(raw) {
		col := 0
		var se *json.SyntaxError
		if errors.As(jsonErr, &se) {
			col = int(se.Offset) + 1
		}
		return Problems{{File: file, Line: line, Col: col, Msg: "invalid JSON: " + strings.TrimPrefix(jsonErr.Error(), "json: ")}}
	}
	if raw[0] != '{' {
		return Problems{{File: file, Line: line, Col: 1, Msg: "expected a JSON object (one case per line)"}}
	}
	if err := yaml.Unmarshal(raw, &node); err != nil {
		return Problems{{File: file, Line: line, Col: 1, Msg: strings.TrimPrefix(jsonErr.Error(), "json: ")}}
	}
	var probs Problems
	checkNode(file, &node, caseYAMLType, "", &probs)
	for i := range probs {
		// The YAML parser saw a one-line document: its line is our line.
		probs[i].Line = line
	}
	if len(probs) == 0 {
		probs = Problems{{File: file, Line: line, Col: 1, Msg: strings.TrimPrefix(jsonErr.Error(), "json: ")}}
	}
	return probs
}

// locateJSONField finds the column of a top-level-or-nested key in a JSON
// line for semantic errors (best effort: the last path element's key).
func locateJSONField(raw []byte, field string) (int, int) {
	if field == "" {
		return 0, 1
	}
	last := field
	if i := strings.LastIndexByte(field, '.'); i >= 0 {
		last = field[i+1:]
	}
	if b := strings.IndexByte(last, '['); b >= 0 {
		last = last[:b]
	}
	if i := bytes.Index(raw, []byte(`"`+last+`"`)); i >= 0 {
		return 0, i + 1
	}
	return 0, 1
}
