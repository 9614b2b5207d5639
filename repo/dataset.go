package repo

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/goccy/go-json"
	"gopkg.in/yaml.v3"
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
	// ids are the case IDs in file order, from the validating pass; with
	// the file's size and time they let Each skip validation and hashing
	// when the file has not changed since.
	ids     []string
	size    int64
	modTime time.Time
	// named is whether any case has a name (else Names needs no pass).
	named bool
	// kept are the validated cases of a small file (at most keptFileBytes),
	// in file order: every iteration of a run walks the dataset again, and
	// for a small file decoding it once costs less than decoding it each
	// time. Larger files are streamed, so memory stays bounded.
	kept []*Case
}

// keptFileBytes is the largest dataset file kept decoded in memory. At the
// limit, 23,000 short cases (a one-line input and rule each) hold about
// 13 MB of heap, IDs included; cases with longer texts hold less per byte.
const keptFileBytes = 2 << 20

// LoadDataset reads and validates a JSONL dataset: every bad line is
// reported, not just the first. The cases of a small file are kept for
// Each; a larger file is streamed again by every Each.
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
	ids := map[string]int{}
	var sorted []string
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
		if first, dup := ids[c.ID]; dup {
			msg := fmt.Sprintf("duplicate case ID %s (same as line %d)", c.ID, first)
			hint := "two cases with the same content; remove one"
			if strings.HasPrefix(c.ID, "case_") {
				hint = "the two lines define the same case; remove one or make them differ"
			} else {
				hint = "explicit ids must be unique"
			}
			probs = append(probs, Problem{File: f.name, Line: c.Line, Col: 1, Field: "id", Msg: msg, Hint: hint})
			return
		}
		// The decoder may hand out strings that share its read buffer;
		// unless the case is kept (and the buffer with it), a copy keeps
		// the buffer from living as long as the dataset. (A computed ID is
		// a string of its own.)
		id := c.ID
		if c.explicitID && !keep {
			id = strings.Clone(id)
		}
		ids[id] = c.Line
		d.named = d.named || c.Name != ""
		sorted = append(sorted, id)
		if keep {
			d.kept = append(d.kept, c)
		}
	})
	if err != nil {
		return nil, err
	}
	if len(probs) > 0 {
		return nil, probs
	}
	if len(sorted) == 0 {
		return nil, Problems{{File: f.name, Msg: "dataset has no cases", Hint: "add one JSON object per line"}}
	}
	d.Count = len(sorted)
	d.ids = sorted
	d.ID = DatasetID(sorted)
	return d, nil
}

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
		writeCanonicalString(&buf, id)
	}
	buf.WriteByte(']')
	return HashBytesID("ds", buf.Bytes())
}

// Each calls fn for every case, in file order: from memory for a small
// file, else streamed from its file system. The cases are shared between
// calls of Each: fn must not modify them.
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
		if d.kept != nil {
			return eachKept(d.kept, fn)
		}
		return d.eachValidated(fn)
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
	if d.ids == nil {
		return false
	}
	st, err := d.file.stat()
	return err == nil && st.Size() == d.size && st.ModTime().Equal(d.modTime)
}

// eachValidated streams a file that has already been validated: a plain
// decode per line, with the ID from the validating pass.
func (d *Dataset) eachValidated(fn func(*Case) error) error {
	i := 0
	err := eachCaseLine(d.file, func(raw []byte, line int) error {
		if i >= len(d.ids) {
			return fmt.Errorf("%s changed while it was read", d.file.name)
		}
		var c Case
		if !decodePlainCase(raw, &c) {
			c = Case{}
			if err := json.Unmarshal(raw, &c); err != nil {
				return fmt.Errorf("%s:%d: %w", d.file.name, line, err)
			}
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
	d := plainDecoder{b: raw}
	return d.object(reflect.ValueOf(c).Elem(), casePlainFields()) && d.space() == len(raw)
}

// plainDecoder reads the plain JSON of decodePlainCase into Go values.
type plainDecoder struct {
	b []byte
	i int
}

// plainFields maps the JSON names of a struct's fields to the fields, as
// goccy matches keys that are spelled exactly.
type plainFields map[string]plainField

// plainField is a field of a struct that plain JSON may set; fields are
// those of the struct it holds or points to.
type plainField struct {
	index  int
	fields plainFields
}

// casePlainFields are Case's fields, worked out once.
var casePlainFields = sync.OnceValue(func() plainFields {
	return plainFieldsOf(reflect.TypeFor[Case](), map[reflect.Type]plainFields{})
})

func plainFieldsOf(t reflect.Type, seen map[reflect.Type]plainFields) plainFields {
	if fs, ok := seen[t]; ok {
		return fs
	}
	fs := plainFields{}
	seen[t] = fs
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		// Untagged fields (matched by their Go name) and options that
		// change decoding (",string") are left to the strict path; the
		// limit keeps "seen" in one word.
		if !f.IsExported() || name == "" || name == "-" || opts != "" && opts != "omitempty" || i >= 64 {
			continue
		}
		field := plainField{index: i}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct {
			field.fields = plainFieldsOf(ft, seen)
		}
		fs[name] = field
	}
	return fs
}

var (
	stringsType = reflect.TypeFor[[]string]()
	intMapType  = reflect.TypeFor[map[string]int]()
)

// maxPlainDepth bounds the nesting of free-form values on the plain path;
// deeper ones take the strict path.
const maxPlainDepth = 1000

// space skips whitespace and returns the offset of what follows.
func (d *plainDecoder) space() int {
	d.i = skipJSONSpace(d.b, d.i)
	return d.i
}

// next consumes c if it comes next (after whitespace).
func (d *plainDecoder) next(c byte) bool {
	if d.space() < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

func (d *plainDecoder) object(v reflect.Value, fields plainFields) bool {
	if !d.next('{') {
		return false
	}
	if d.next('}') {
		return true
	}
	var seen uint64
	for {
		key, ok := d.key()
		f, known := fields[string(key)]
		if !ok || !known || seen&(1<<f.index) != 0 || !d.next(':') || !d.value(v.Field(f.index), f.fields) {
			return false
		}
		seen |= 1 << f.index
		if !d.next(',') {
			return d.next('}')
		}
	}
}

// key reads an object key of printable ASCII without escapes.
func (d *plainDecoder) key() ([]byte, bool) {
	if !d.next('"') {
		return nil, false
	}
	start := d.i
	for d.i < len(d.b) && plainByte[d.b[d.i]] {
		d.i++
	}
	if d.i == len(d.b) || d.b[d.i] != '"' {
		return nil, false
	}
	d.i++
	return d.b[start : d.i-1], true
}

// value reads v's value; fields are v's if it is (or points to) a struct.
func (d *plainDecoder) value(v reflect.Value, fields plainFields) bool {
	t := v.Type()
	switch {
	case t == rawMessageType:
		return d.raw(v)
	case t == stringsType:
		return d.strings(v)
	case t == intMapType:
		return d.intMap(v)
	}
	switch t.Kind() {
	case reflect.String:
		s, ok := d.text()
		v.SetString(s)
		return ok
	case reflect.Bool:
		if d.literal("true") {
			v.SetBool(true)
			return true
		}
		return d.literal("false")
	case reflect.Int:
		n, ok := d.integer()
		v.SetInt(n)
		return ok
	case reflect.Pointer:
		// null is not plain: the pointed-to value refuses it.
		p := reflect.New(t.Elem())
		if !d.value(p.Elem(), fields) {
			return false
		}
		v.Set(p)
		return true
	case reflect.Struct:
		return d.object(v, fields)
	}
	return false
}

// text reads a string of printable ASCII; escapes other than \u are fine.
func (d *plainDecoder) text() (string, bool) {
	if !d.next('"') {
		return "", false
	}
	var buf []byte // only for a string with escapes
	start := d.i
	for {
		for d.i < len(d.b) && plainByte[d.b[d.i]] {
			d.i++
		}
		switch {
		case d.i < len(d.b) && d.b[d.i] == '"':
			d.i++
			if buf == nil {
				return string(d.b[start : d.i-1]), true
			}
			return string(append(buf, d.b[start:d.i-1]...)), true
		case d.i+1 < len(d.b) && d.b[d.i] == '\\':
			e, ok := simpleEscape(d.b[d.i+1])
			if !ok {
				return "", false
			}
			buf = append(append(buf, d.b[start:d.i]...), e)
			d.i += 2
			start = d.i
		default:
			return "", false
		}
	}
}

func (d *plainDecoder) literal(lit string) bool {
	if bytes.HasPrefix(d.b[d.space():], []byte(lit)) {
		d.i += len(lit)
		return true
	}
	return false
}

// integer reads an integer without leading zeros, fraction or exponent
// (and not -0) that fits an int.
func (d *plainDecoder) integer() (int64, bool) {
	start := d.space()
	j := start
	if j < len(d.b) && d.b[j] == '-' {
		j++
	}
	digits := j
	for j < len(d.b) && '0' <= d.b[j] && d.b[j] <= '9' {
		j++
	}
	if j == digits || d.b[digits] == '0' && (j-digits > 1 || digits > start) {
		return 0, false
	}
	n, err := strconv.ParseInt(string(d.b[start:j]), 10, strconv.IntSize)
	d.i = j
	return n, err == nil
}

// strings reads an array of texts; [] gives an empty slice, as goccy does.
func (d *plainDecoder) strings(v reflect.Value) bool {
	if !d.next('[') {
		return false
	}
	list := []string{}
	if !d.next(']') {
		for {
			s, ok := d.text()
			if !ok {
				return false
			}
			list = append(list, s)
			if !d.next(',') {
				if !d.next(']') {
					return false
				}
				break
			}
		}
	}
	*v.Addr().Interface().(*[]string) = list // (reflect.ValueOf(list) would allocate)
	return true
}

// intMap reads an object of integers; a repeated key keeps its last value,
// as goccy does.
func (d *plainDecoder) intMap(v reflect.Value) bool {
	if !d.next('{') {
		return false
	}
	m := map[string]int{}
	if !d.next('}') {
		for {
			k, ok := d.text()
			if !ok || !d.next(':') {
				return false
			}
			n, ok := d.integer()
			if !ok {
				return false
			}
			m[k] = int(n)
			if !d.next(',') {
				if !d.next('}') {
					return false
				}
				break
			}
		}
	}
	*v.Addr().Interface().(*map[string]int) = m
	return true
}

// raw reads a free-form value, which must be valid JSON (not null): its
// bytes are then exactly those goccy's skipValue would hand over.
func (d *plainDecoder) raw(v reflect.Value) bool {
	start := d.space()
	end, ok := skipValidJSON(d.b, start, 0)
	if !ok || d.b[start] == 'n' {
		return false
	}
	d.i = end
	v.SetBytes(bytes.Clone(d.b[start:end]))
	return true
}

// skipValidJSON returns the end of the JSON value (RFC 8259) at b[i:], or
// false if there is none or it nests deeper than maxPlainDepth.
func skipValidJSON(b []byte, i, depth int) (int, bool) {
	if i = skipJSONSpace(b, i); i >= len(b) {
		return i, false
	}
	switch c := b[i]; {
	case c == '{' || c == '[':
		return skipValidContainer(b, i, depth+1)
	case c == '"':
		return skipValidString(b, i)
	case c == '-' || '0' <= c && c <= '9':
		return skipValidNumber(b, i)
	}
	for _, lit := range []string{"true", "false", "null"} {
		if bytes.HasPrefix(b[i:], []byte(lit)) {
			return i + len(lit), true
		}
	}
	return i, false
}

func skipValidContainer(b []byte, i, depth int) (int, bool) {
	open, end := b[i], byte(']')
	if open == '{' {
		end = '}'
	}
	if depth > maxPlainDepth {
		return i, false
	}
	if i = skipJSONSpace(b, i+1); i < len(b) && b[i] == end {
		return i + 1, true
	}
	for {
		ok := true
		if open == '{' {
			if i, ok = skipValidString(b, skipJSONSpace(b, i)); !ok {
				return i, false
			}
			if i = skipJSONSpace(b, i); i >= len(b) || b[i] != ':' {
				return i, false
			}
			i++
		}
		if i, ok = skipValidJSON(b, i, depth); !ok {
			return i, false
		}
		if i = skipJSONSpace(b, i); i < len(b) && b[i] == ',' {
			i++
			continue
		}
		if i < len(b) && b[i] == end {
			return i + 1, true
		}
		return i, false
	}
}

// skipValidString skips a string without raw control characters and with
// valid escapes; other bytes (UTF-8 or not) are the canonicalizer's.
func skipValidString(b []byte, i int) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return i, false
	}
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, true
		case c < 0x20:
			return i, false
		case c == '\\':
			n := validEscapeLen(b[i+1:])
			if n == 0 {
				return i, false
			}
			i += n
		}
	}
	return i, false
}

// validEscapeLen is the length of the escape whose backslash precedes b,
// or 0 if it is not valid.
func validEscapeLen(b []byte) int {
	switch {
	case len(b) == 0:
		return 0
	case b[0] == 'u':
		if len(b) < 5 || !isHex(b[1]) || !isHex(b[2]) || !isHex(b[3]) || !isHex(b[4]) {
			return 0
		}
		return 5
	}
	if _, ok := simpleEscape(b[0]); ok {
		return 1
	}
	return 0
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// skipValidNumber skips -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?.
func skipValidNumber(b []byte, i int) (int, bool) {
	digits := func() bool {
		start := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		return i > start
	}
	if b[i] == '-' {
		i++
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if !digits() {
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			return i, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return i, false
		}
	}
	return i, true
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
