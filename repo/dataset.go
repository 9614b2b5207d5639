package repo

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/goccy/go-json"
	"gopkg.in/yaml.v3"

	"github.com/selfevals/selfevals/repo/internal/canonical"
	"github.com/selfevals/selfevals/repo/internal/plainjson"
)

// Dataset is a set of cases: a JSONL file streamed from disk (or an
// fs.FS), or the inline cases of a spec. Its ID (ds_…) is the hash of its
// sorted case IDs.
type Dataset struct {
	// Path is the JSONL file, or the spec file for inline cases: an OS
	// path, or its path in the fs.FS it was loaded from.
	Path  string
	ID    string
	Count int

	file   file
	inline []Case
	// index holds the case IDs from the validating pass; with the file's
	// size and time it lets Each skip validation and hashing when the
	// file has not changed since.
	index     *CaseIndex
	validated bool
	size      int64
	modTime   time.Time
	// named is whether any case has a name (else Names needs no pass);
	// explicitIDs whether any case gives its own id.
	named, explicitIDs bool
	// kept are the validated cases of a small file (at most keptFileBytes),
	// in file order: every iteration of a run walks the dataset again, and
	// for a small file decoding it once costs less than decoding it each
	// time. Larger files are streamed, so memory stays bounded.
	kept []*Case
	// spill, for a larger file, holds its cases decoded by the first full
	// walk, for the walks after it (dataset_spill.go).
	spill *caseSpill
	// shard, when set, is the slice of the cases this dataset walks (run
	// --shard): Count is the shard's, ID the whole dataset's.
	shard *Shard
}

// keptFileBytes is the largest dataset file kept decoded in memory. At the
// limit, 23,000 short cases (a one-line input and rule each) hold about
// 13 MB of heap, IDs included; cases with longer texts hold less per byte.
const keptFileBytes = 2 << 20

// LoadDataset reads and validates a JSONL dataset: every bad line is
// reported, not just the first. The cases of a small file are kept for
// Each; a larger file is streamed by the first Each, which spills the
// decoded cases to a temporary file for the ones after.
func LoadDataset(path string) (*Dataset, error) {
	return loadDataset(osFile(path), nil)
}

// LoadDatasetFS is LoadDataset for the file at name in fsys.
func LoadDatasetFS(fsys fs.FS, name string) (*Dataset, error) {
	return loadDataset(fsFile(fsys, name), nil)
}

// loadDataset is LoadDataset with an extra check of each valid case.
func loadDataset(f file, check func(*Case) Problems) (*Dataset, error) {
	d := &Dataset{Path: f.where(), file: f}
	if st, err := f.stat(); err == nil {
		d.size, d.modTime = st.Size(), st.ModTime()
	}
	var ids idCollector
	var probs Problems
	keep := d.size > 0 && d.size <= keptFileBytes
	err := scanCases(f, func(c *Case, p Problems) {
		if len(p) == 0 && check != nil {
			p = check(c)
		}
		if len(p) > 0 {
			probs = append(probs, p...)
			return
		}
		ids.add(c.ID, c.Line)
		d.named = d.named || c.Name != ""
		d.explicitIDs = d.explicitIDs || c.explicitID
		if keep {
			d.kept = append(d.kept, c)
		}
	})
	if err != nil {
		return nil, err
	}
	if len(ids.ends) == 0 && len(probs) == 0 {
		return nil, Problems{{File: f.name, Msg: "dataset has no cases", Hint: "add one JSON object per line"}}
	}
	index, dups := ids.build()
	if len(probs) > 0 || len(dups) > 0 {
		return nil, mergeByLine(probs, duplicateProblems(f.name, dups))
	}
	d.Count = index.Len()
	d.index, d.validated = index, true
	d.ID = index.datasetID()
	if !keep {
		d.spill = &caseSpill{}
	}
	return d, nil
}

// duplicateProblems says which lines repeat an earlier case's ID.
func duplicateProblems(file string, dups []duplicate) Problems {
	var probs Problems
	for _, dup := range dups {
		msg := fmt.Sprintf("duplicate case ID %s (same as line %d)", dup.id, dup.first)
		hint := "explicit ids must be unique"
		if strings.HasPrefix(dup.id, "case_") {
			hint = "the two lines define the same case; remove one or make them differ"
		}
		probs = append(probs, Problem{File: file, Line: dup.line, Col: 1, Field: "id", Msg: msg, Hint: hint})
	}
	return probs
}

// mergeByLine merges two lists of problems, each in line order, into one
// in line order (a line's own problems stay together, first list first).
func mergeByLine(a, b Problems) Problems {
	if len(b) == 0 {
		return a
	}
	out := make(Problems, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if b[0].Line < a[0].Line {
			out, b = append(out, b[0]), b[1:]
		} else {
			out, a = append(out, a[0]), a[1:]
		}
	}
	return append(append(out, a...), b...)
}

// Index is the dataset's case IDs, compactly, with each case's rank in ID
// order: what per-case state is indexed by.
func (d *Dataset) Index() *CaseIndex { return d.index }

// DatasetID hashes a dataset's case IDs (in any order).
func DatasetID(caseIDs []string) string {
	ids := slices.Clone(caseIDs)
	slices.Sort(ids)
	// The canonical JSON of a list of strings, written directly: the same
	// bytes as Canonical(ids) without decoding a large array back.
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i, id := range ids {
		if i > 0 {
			buf.WriteByte(',')
		}
		canonical.WriteString(&buf, id)
	}
	buf.WriteByte(']')
	return HashBytesID("ds", buf.Bytes())
}

// Each calls fn for every case, in file order: from memory for a small
// file, else streamed from its file system once and from its spill of
// decoded cases after (as long as the file has not changed). The cases are shared between
// calls of Each: fn must not modify them.
func (d *Dataset) Each(fn func(*Case) error) error {
	if d.shard != nil {
		all, n, i := fn, d.shard.Count, d.shard.Index
		fn = func(c *Case) error {
			if ShardOf(c, n) != i {
				return nil
			}
			return all(c)
		}
	}
	if d.inline != nil {
		for i := range d.inline {
			if err := fn(&d.inline[i]); err != nil {
				return err
			}
		}
		return nil
	}
	if d.unchanged() {
		if d.kept != nil {
			return eachKept(d.kept, fn)
		}
		return d.eachLarge(fn)
	}
	var stop error
	err := scanCases(d.file, func(c *Case, p Problems) {
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

// eachKept walks the cases kept from the validating pass.
func eachKept(kept []*Case, fn func(*Case) error) error {
	for _, c := range kept {
		if err := fn(c); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

// unchanged reports whether the file is as it was validated.
func (d *Dataset) unchanged() bool {
	if !d.validated {
		return false
	}
	st, err := d.file.stat()
	return err == nil && st.Size() == d.size && st.ModTime().Equal(d.modTime)
}

// eachValidated streams a file that has already been validated: a plain
// decode per line, with the ID from the validating pass (a slice of the
// index's string: no ID is hashed or allocated again).
func (d *Dataset) eachValidated(fn func(*Case) error) error {
	i := 0
	err := eachCaseLine(d.file, func(raw []byte, line int) error {
		if i >= d.index.Len() {
			return fmt.Errorf("%s changed while it was read", d.file.name)
		}
		var c Case
		if !decodePlainCase(raw, &c) {
			c = Case{}
			if err := DecodeJSON(raw, &c); err != nil {
				return fmt.Errorf("%s:%d: %w", d.file.name, line, err)
			}
		}
		c.ID, c.Line = d.index.ID(d.index.RankAt(i)), line
		i++
		return fn(&c)
	})
	if errors.Is(err, ErrStop) {
		return nil
	}
	return err
}

// Names calls fn with the ID and name of every case that has a name. It
// reads nothing when the validating pass saw no names.
func (d *Dataset) Names(fn func(id, name string)) error {
	if d.inline == nil && !d.named && d.unchanged() {
		return nil
	}
	return d.Each(func(c *Case) error {
		if c.Name != "" {
			fn(c.ID, c.Name)
		}
		return nil
	})
}

// DefinitionsAreIDs reports whether every case's definition hash follows
// from its ID (no case has a name or an id of its own: the ID is then the
// content hash the definition is), so writing them needs no pass over the
// file.
func (d *Dataset) DefinitionsAreIDs() bool {
	return d.inline == nil && !d.named && !d.explicitIDs && d.unchanged()
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

// scanCases parses a JSONL file; fn gets each case or the problems of its
// line, in file order, on the caller's goroutine. Lines are decoded on
// every core, in chunks: validating a large dataset is most of a run's
// start-up, with the other core idle.
func scanCases(f file, fn func(*Case, Problems)) error {
	workers := runtime.GOMAXPROCS(0)
	if workers < 2 {
		return eachCaseLine(f, func(raw []byte, line int) error {
			fn(DecodeCaseJSON(f.name, line, raw))
			return nil
		})
	}
	todo := make(chan *caseChunk, workers)      // to the decoders
	inOrder := make(chan *caseChunk, 2*workers) // to fn, in file order
	var decoders sync.WaitGroup
	for range workers {
		decoders.Go(func() {
			for ch := range todo {
				ch.decode(f.name)
			}
		})
	}
	var readErr error
	go func() {
		defer close(inOrder)
		defer close(todo)
		ch := newCaseChunk(0)
		send := func() {
			inOrder <- ch
			todo <- ch
			ch = newCaseChunk(len(ch.data))
		}
		readErr = eachCaseLine(f, func(raw []byte, line int) error {
			ch.add(raw, line)
			if len(ch.lines) == caseChunkLines || len(ch.data) >= caseChunkBytes {
				send()
			}
			return nil
		})
		if len(ch.lines) > 0 {
			send()
		}
	}()
	for ch := range inOrder {
		<-ch.done
		for i := range ch.lines {
			fn(ch.cases[i], ch.probs[i])
		}
	}
	decoders.Wait()
	return readErr
}

// A chunk of case lines is decoded by one goroutine.
const (
	caseChunkLines = 256
	caseChunkBytes = 256 << 10
)

// caseChunk is consecutive case lines, copied out of the reader's buffer,
// and once done is closed, what they decoded to.
type caseChunk struct {
	data  []byte // the lines back to back
	ends  []int  // where each line ends in data
	lines []int  // line numbers
	cases []*Case
	probs []Problems
	done  chan struct{}
}

// newCaseChunk starts a chunk sized like the one before it (lines of a
// file are much alike), so filling it does not grow it again and again.
func newCaseChunk(lastBytes int) *caseChunk {
	return &caseChunk{
		data:  make([]byte, 0, min(lastBytes+lastBytes/8, caseChunkBytes)),
		ends:  make([]int, 0, caseChunkLines),
		lines: make([]int, 0, caseChunkLines),
		done:  make(chan struct{}),
	}
}

func (ch *caseChunk) add(raw []byte, line int) {
	ch.data = append(ch.data, raw...)
	ch.ends = append(ch.ends, len(ch.data))
	ch.lines = append(ch.lines, line)
}

func (ch *caseChunk) decode(path string) {
	ch.cases = make([]*Case, len(ch.lines))
	ch.probs = make([]Problems, len(ch.lines))
	start := 0
	for i, end := range ch.ends {
		ch.cases[i], ch.probs[i] = DecodeCaseJSON(path, ch.lines[i], ch.data[start:end])
		start = end
	}
	close(ch.done)
}

// eachCaseLine calls fn with every line of a dataset that holds a case:
// blank lines and // comments are skipped.
func eachCaseLine(f file, fn func(raw []byte, line int) error) error {
	r, err := f.open()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return &UserError{Msg: fmt.Sprintf("dataset %s not found", f.name), Hint: nearbyFileHint(f)}
		}
		return err
	}
	defer r.Close()
	err = EachLine(r, func(raw []byte, line int, _ int64, _ bool) error {
		trimmed := bytes.TrimSpace(raw)
		if len(trimmed) == 0 || bytes.HasPrefix(trimmed, []byte("//")) {
			return nil
		}
		return fn(trimmed, line)
	})
	if errors.Is(err, ErrLineTooLong) {
		return Problems{{File: f.name, Msg: err.Error()}}
	}
	return err
}

// DecodeCaseJSON decodes, validates and identifies one JSONL line. Valid
// lines take the fast path (a plain or a strict JSON decode); a line that
// fails is re-read as YAML (a superset of JSON) to name the line, column and
// field of every problem.
func DecodeCaseJSON(file string, line int, raw []byte) (*Case, Problems) {
	if p := CheckUTF8Line(file, line, raw); p != nil {
		return nil, Problems{*p}
	}
	var c Case
	if !decodePlainCase(raw, &c) {
		c = Case{}
		if probs := strictCase(file, line, raw, &c); probs != nil {
			return nil, probs
		}
	}
	c.Line = line
	if probs := finishCase(&c, file, line, func(field string) (int, int) {
		return locateJSONField(raw, field)
	}); len(probs) > 0 {
		return nil, probs
	}
	return &c, nil
}

// strictCase is DecodeCaseJSON's path for a line the plain decoder
// refused: the strict decode, and the problems of a line that fails it.
// goccy's stream decoder, which its json.Valid shares, can index past its
// buffer on a long run of invalid UTF-8; such a line is invalid anyway.
func strictCase(file string, line int, raw []byte, c *Case) (probs Problems) {
	defer func() {
		if recover() != nil {
			msg := "the line is not valid JSON"
			if !utf8.Valid(raw) {
				msg = "the line is not valid UTF-8"
			}
			probs = Problems{{File: file, Line: line, Msg: "invalid JSON: " + msg}}
		}
	}()
	if err := decodeCaseStrict(raw, c); err != nil {
		return explainCaseLine(file, line, raw, err)
	}
	return nil
}

// decodeCaseStrict decodes a case with goccy's stream decoder, the only
// one of goccy's that rejects unknown fields.
func decodeCaseStrict(raw []byte, c *Case) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(c)
	if err == nil && dec.More() {
		err = errors.New("extra data after the case object")
	}
	return err
}

// decodePlainCase decodes a case line written in plain JSON, as nearly
// every line is: known keys spelled exactly, each once; typed fields
// (names, tags, enums) as strings of printable ASCII without \u escapes,
// integers without fraction or exponent, true or false, never null; and
// free-form values (input, context, ...) that are valid JSON. On such a
// line it sets c as decodeCaseStrict would, several times faster: a
// goccy stream decoder costs a buffer and a few objects per line. It
// returns false for any other line, which then takes the strict path.
func decodePlainCase(raw []byte, c *Case) bool {
	return plainjson.Decode(raw, reflect.ValueOf(c).Elem(), casePlainFields())
}

// casePlainFields are Case's fields, worked out once.
var casePlainFields = sync.OnceValue(func() plainjson.Fields {
	return plainjson.FieldsOf(reflect.TypeFor[Case]())
})

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
