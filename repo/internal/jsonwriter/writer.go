// Package jsonwriter appends JSON to byte slices by hand, for hot paths
// where reflection costs several times more: strings, numbers, raw JSON
// compacted, objects of map[string]any, with the first error kept. Its
// bytes are those goccy/go-json's Encoder writes with HTML escaping off
// (AppendQuoted and AppendLine say what they write), so that files keep
// their bytes. It knows nothing of the types written with it; their
// field-by-field writers live with them.
package jsonwriter

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-json"
)

// Writer appends JSON to a buffer and keeps the first error, so that
// field-by-field code reads straight. The zero Writer writes to a new
// buffer.
type Writer struct {
	buf []byte
	err error
}

// New returns a Writer that appends to dst.
func New(dst []byte) Writer { return Writer{buf: dst} }

// Bytes returns the buffer: dst with everything written appended.
func (w *Writer) Bytes() []byte { return w.buf }

// Err returns the first error met, or nil.
func (w *Writer) Err() error { return w.err }

// Fail records err unless an error is recorded already.
func (w *Writer) Fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

// Byte appends c, which must keep the JSON valid.
func (w *Writer) Byte(c byte) { w.buf = append(w.buf, c) }

// Literal appends s, JSON text as it is: punctuation, keys with their
// quotes, literals.
func (w *Writer) Literal(s string) { w.buf = append(w.buf, s...) }

// String appends s as a JSON string (see AppendString).
func (w *Writer) String(s string) { w.buf = AppendString(w.buf, s) }

// Int writes i; counts below 1000 (most of them) skip strconv's general path.
func (w *Writer) Int(i int64) {
	switch {
	case i < 0 || i >= 1000:
		w.buf = strconv.AppendInt(w.buf, i, 10)
	case i < 10:
		w.buf = append(w.buf, byte('0'+i))
	case i < 100:
		w.buf = append(w.buf, byte('0'+i/10), byte('0'+i%10))
	default:
		w.buf = append(w.buf, byte('0'+i/100), byte('0'+i/10%10), byte('0'+i%10))
	}
}

// Float writes f as goccy does: strconv's shortest form, in exponent form
// below 1e-6 and from 1e21 on, with no tidying of the exponent (1e-07, not
// encoding/json's 1e-7). NaN and infinities are not JSON: they fail.
func (w *Writer) Float(f float64) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		w.Fail(fmt.Errorf("json: unsupported value: %v", f))
		return
	}
	if w.millis(f) {
		return
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	w.buf = strconv.AppendFloat(w.buf, f, format, -1, 64)
}

// millis writes f if it has at most three decimals, as scores and
// latencies (whole microseconds in milliseconds) do, and reports whether
// it did. Below 1e9 two such numbers are far more than a rounding error
// apart, so the shortest form that reads back as f is that decimal with
// its trailing zeros cut: the same text as strconv's, found far cheaper.
func (w *Writer) millis(f float64) bool {
	if f == 0 {
		if math.Signbit(f) {
			w.Literal("-0")
		} else {
			w.Byte('0')
		}
		return true
	}
	if math.Abs(f) >= 1e9 {
		return false
	}
	thousandths := math.Round(f * 1000)
	if thousandths/1000 != f {
		return false
	}
	n := int64(thousandths)
	if n < 0 {
		w.Byte('-')
		n = -n
	}
	w.Int(n / 1000)
	if frac := n % 1000; frac != 0 {
		digits := [3]byte{byte('0' + frac/100), byte('0' + frac/10%10), byte('0' + frac%10)}
		end := 3
		for digits[end-1] == '0' {
			end--
		}
		w.buf = append(append(w.buf, '.'), digits[:end]...)
	}
	return true
}

// OptString writes key (`,"name":`) and s, unless s is empty: omitempty.
func (w *Writer) OptString(key, s string) {
	if s != "" {
		w.Literal(key)
		w.String(s)
	}
}

// OptFloat writes key and f, unless f is zero, negative zero included, as
// omitempty does.
func (w *Writer) OptFloat(key string, f float64) {
	if f != 0 {
		w.Literal(key)
		w.Float(f)
	}
}

// OptRaw writes key and a json.RawMessage as goccy does, validated and
// compacted (see AppendCompact), unless raw is empty.
func (w *Writer) OptRaw(key string, raw []byte) {
	if len(raw) == 0 {
		return
	}
	w.Literal(key)
	var err error
	if w.buf, err = AppendCompact(w.buf, raw); err != nil {
		w.Fail(fmt.Errorf("json: error calling MarshalJSON for type json.RawMessage: %w", err))
	}
}

// Strings writes a list of strings; nil is null.
func (w *Writer) Strings(list []string) {
	if list == nil {
		w.Literal("null")
		return
	}
	w.Byte('[')
	for i, s := range list {
		if i > 0 {
			w.Byte(',')
		}
		w.String(s)
	}
	w.Byte(']')
}

// Object writes a map as goccy does: keys sorted by their encoded bytes
// (quotes included, which orders "a!" before "a"). Keys that differ only
// in invalid UTF-8 encode alike, and goccy then writes them in map order;
// here they are ordered by their raw bytes, so a line is always the same.
func (w *Writer) Object(m map[string]any) {
	if m == nil {
		w.Literal("null")
		return
	}
	w.Byte('{')
	if len(m) == 1 { // the common case: nothing to sort
		for k, v := range m {
			w.member(k, v)
		}
	} else if len(m) > 1 {
		var small [4]entry // avoid allocating for a few keys
		entries := small[:0]
		for k, v := range m {
			entries = append(entries, entry{k, v})
		}
		slices.SortFunc(entries, func(a, b entry) int { return compareEncodedKeys(a.key, b.key) })
		for i, e := range entries {
			if i > 0 {
				w.Byte(',')
			}
			w.member(e.key, e.value)
		}
	}
	w.Byte('}')
}

func (w *Writer) member(key string, v any) {
	w.String(key)
	w.Byte(':')
	w.Value(v)
}

type entry struct {
	key   string
	value any
}

func compareEncodedKeys(a, b string) int {
	var ba, bb [64]byte
	if c := bytes.Compare(AppendString(ba[:0], a), AppendString(bb[:0], b)); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

// Value writes the types JSON decodes to, and the few others common in
// free-form values ([]string, int, int64), by hand, and hands any other
// to goccy, which encodes it alone as it would inside a map.
func (w *Writer) Value(v any) {
	switch v := v.(type) {
	case nil:
		w.Literal("null")
	case string:
		w.String(v)
	case bool:
		if v {
			w.Literal("true")
		} else {
			w.Literal("false")
		}
	case float64:
		w.Float(v)
	case int:
		w.Int(int64(v))
	case int64:
		w.Int(v)
	case []string:
		w.Strings(v)
	case []any:
		if v == nil {
			w.Literal("null")
			return
		}
		w.Byte('[')
		for i, e := range v {
			if i > 0 {
				w.Byte(',')
			}
			w.Value(e)
		}
		w.Byte(']')
	case map[string]any:
		w.Object(v)
	default:
		b, err := json.MarshalWithOption(v, json.DisableHTMLEscape())
		if err != nil {
			w.Fail(err)
			return
		}
		w.buf = append(w.buf, b...)
	}
}
