package jsonwriter

import (
	"bytes"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-json"
)

// AppendMarshal appends v as goccy's json.Marshal writes it. The values a
// YAML or JSON document decodes into (nil, bools, strings, float64, int64,
// int, []any, map[string]any) are written here; anything else, and the
// rare value whose writing differs in subtle ways (a string with < > &
// or invalid UTF-8, a negative zero, NaN or an infinity), goes to goccy.
// goccy compiles an encoder for each type it meets, about 1.5 ms on every
// command that hashes a spec's parameters; these bytes are the same
// (FuzzAppendMarshalMatchesGoccy).
func AppendMarshal(dst []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case bool:
		return strconv.AppendBool(dst, x), nil
	case int64:
		return strconv.AppendInt(dst, x, 10), nil
	case int:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case float64:
		if x != 0 && !math.IsNaN(x) && !math.IsInf(x, 0) || x == 0 && !math.Signbit(x) {
			return appendFloat(dst, x), nil
		}
	case string:
		if !strings.ContainsAny(x, "<>&") && isPlainOrValid(x) {
			return AppendString(dst, x), nil
		}
	case []any:
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = AppendMarshal(dst, e); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case map[string]any:
		return appendMap(dst, x)
	}
	b, err := json.Marshal(v)
	return append(dst, b...), err
}

// appendMap writes the entries in the order of their encoded keys, as
// goccy sorts them (quotes included: " " comes before "").
func appendMap(dst []byte, m map[string]any) ([]byte, error) {
	type entry struct {
		key   []byte
		value any
	}
	entries := make([]entry, 0, len(m))
	for k, v := range m {
		key, err := AppendMarshal(nil, k)
		if err != nil {
			return dst, err
		}
		entries = append(entries, entry{key, v})
	}
	slices.SortFunc(entries, func(a, b entry) int { return bytes.Compare(a.key, b.key) })
	dst = append(dst, '{')
	for i, e := range entries {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(append(dst, e.key...), ':')
		var err error
		if dst, err = AppendMarshal(dst, e.value); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

// appendFloat is goccy's float64: the shortest digits, with an exponent
// below 1e-6 and from 1e21 on (written as strconv does, 1e-07, unlike
// encoding/json's 1e-7).
func appendFloat(dst []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	return strconv.AppendFloat(dst, f, format, -1, 64)
}

// isPlainOrValid is true for a string AppendString writes as goccy's
// Marshal does: valid UTF-8 (Marshal's handling of invalid bytes differs
// from the Encoder's).
func isPlainOrValid(s string) bool {
	return isPlain(s) || utf8.ValidString(s)
}
