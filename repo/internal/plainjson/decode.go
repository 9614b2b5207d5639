// Package plainjson decodes plain JSON into structs, the same values as
// goccy/go-json's decoder sets, several times faster: it takes only the
// JSON nearly every input is (see Decode) and refuses the rest, which the
// caller then gives to the general decoder. It knows nothing of the
// structs it fills but their fields' tags.
package plainjson

import (
	"bytes"
	"reflect"
	"strconv"
	"strings"

	"github.com/goccy/go-json"
	"github.com/selfevals/selfevals/repo/internal/jsonlex"
)

// Decode sets v, a struct, from raw if raw is plain JSON, as nearly every
// input is: an object whose keys are among fields (FieldsOf v's type),
// spelled exactly, each once; strings of printable ASCII without \u
// escapes; integers without fraction or exponent; true or false; never
// null but in json.RawMessage fields, which take any valid JSON (RFC 8259)
// but a bare null. Field types are string, bool, int, []string,
// map[string]int, json.RawMessage, and structs of such fields or pointers
// to them. On such input it sets v as goccy's decoder would. It returns
// false for any other input, and may then have set some of v's fields.
func Decode(raw []byte, v reflect.Value, fields Fields) bool {
	d := decoder{b: raw}
	return d.object(v, fields) && d.space() == len(raw)
}

// decoder reads plain JSON into Go values.
type decoder struct {
	b []byte
	i int
}

// FieldsOf works out the fields of t, a struct type, that plain JSON may
// name: exported, tagged with a name and no option but omitempty, among
// the first 64. Work it out once per type: it walks t's fields.
func FieldsOf(t reflect.Type) Fields { return fieldsOf(t, map[reflect.Type]Fields{}) }

// Fields maps the JSON names of a struct's fields to the fields, as
// goccy matches keys that are spelled exactly.
type Fields map[string]Field

// Field is a field of a struct that plain JSON may set; fields are
// those of the struct it holds or points to.
type Field struct {
	index  int
	fields Fields
}

func fieldsOf(t reflect.Type, seen map[reflect.Type]Fields) Fields {
	if fs, ok := seen[t]; ok {
		return fs
	}
	fs := Fields{}
	seen[t] = fs
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		// Untagged fields (matched by their Go name) and options that
		// change decoding (",string") are not plain: keys naming them
		// are refused. The limit keeps "seen" in one word.
		if !f.IsExported() || name == "" || name == "-" || opts != "" && opts != "omitempty" || i >= 64 {
			continue
		}
		field := Field{index: i}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct {
			field.fields = fieldsOf(ft, seen)
		}
		fs[name] = field
	}
	return fs
}

var (
	rawMessageType = reflect.TypeFor[json.RawMessage]()
	stringsType    = reflect.TypeFor[[]string]()
	intMapType     = reflect.TypeFor[map[string]int]()
)

// maxDepth bounds the nesting of free-form values; deeper ones are not
// plain.
const maxDepth = 1000

// space skips whitespace and returns the offset of what follows.
func (d *decoder) space() int {
	d.i = jsonlex.SkipSpace(d.b, d.i)
	return d.i
}

// next consumes c if it comes next (after whitespace).
func (d *decoder) next(c byte) bool {
	if d.space() < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

func (d *decoder) object(v reflect.Value, fields Fields) bool {
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
func (d *decoder) key() ([]byte, bool) {
	if !d.next('"') {
		return nil, false
	}
	start := d.i
	for d.i < len(d.b) && jsonlex.PlainByte[d.b[d.i]] {
		d.i++
	}
	if d.i == len(d.b) || d.b[d.i] != '"' {
		return nil, false
	}
	d.i++
	return d.b[start : d.i-1], true
}

// value reads v's value; fields are v's if it is (or points to) a struct.
func (d *decoder) value(v reflect.Value, fields Fields) bool {
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
func (d *decoder) text() (string, bool) {
	if !d.next('"') {
		return "", false
	}
	var buf []byte // only for a string with escapes
	start := d.i
	for {
		for d.i < len(d.b) && jsonlex.PlainByte[d.b[d.i]] {
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
			e, ok := jsonlex.SimpleEscape(d.b[d.i+1])
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

func (d *decoder) literal(lit string) bool {
	if bytes.HasPrefix(d.b[d.space():], []byte(lit)) {
		d.i += len(lit)
		return true
	}
	return false
}

// integer reads an integer without leading zeros, fraction or exponent
// (and not -0) that fits an int.
func (d *decoder) integer() (int64, bool) {
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
func (d *decoder) strings(v reflect.Value) bool {
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
func (d *decoder) intMap(v reflect.Value) bool {
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
func (d *decoder) raw(v reflect.Value) bool {
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
// false if there is none or it nests deeper than maxDepth.
func skipValidJSON(b []byte, i, depth int) (int, bool) {
	if i = jsonlex.SkipSpace(b, i); i >= len(b) {
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
	if depth > maxDepth {
		return i, false
	}
	if i = jsonlex.SkipSpace(b, i+1); i < len(b) && b[i] == end {
		return i + 1, true
	}
	for {
		ok := true
		if open == '{' {
			if i, ok = skipValidString(b, jsonlex.SkipSpace(b, i)); !ok {
				return i, false
			}
			if i = jsonlex.SkipSpace(b, i); i >= len(b) || b[i] != ':' {
				return i, false
			}
			i++
		}
		if i, ok = skipValidJSON(b, i, depth); !ok {
			return i, false
		}
		if i = jsonlex.SkipSpace(b, i); i < len(b) && b[i] == ',' {
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
	if _, ok := jsonlex.SimpleEscape(b[0]); ok {
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
