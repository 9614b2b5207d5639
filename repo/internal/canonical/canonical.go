// Package canonical writes JSON in canonical form (RFC 8785 style): object
// keys sorted, no insignificant whitespace, numbers in their shortest
// form, so that the same value has the same bytes on every machine
// whatever its source (YAML, JSON, Go structs) or key order, and hashes of
// those bytes make stable IDs.
package canonical

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/goccy/go-json"
	"github.com/selfevals/selfevals/repo/internal/jsonlex"
)

// Marshal returns the canonical JSON of v: goccy's encoding, transformed.
func Marshal(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return Transform(raw)
}

// MarshalOnce is Marshal for a value whose type a process encodes about
// once, such as a spec: encoding/json prepares a type's encoder in less than
// half the time goccy compiles it (a spec: about 1.2 ms against 3 ms, on
// every command that loads one), and the canonical form of both encodings is
// the same (FuzzLoadExperiment checks it on every spec it loads).
func MarshalOnce(v any) ([]byte, error) {
	raw, err := stdjson.Marshal(v)
	if err != nil {
		return nil, err
	}
	return Transform(raw)
}

// Transform rewrites a JSON document into its canonical form. See
// canonicalizer for what it accepts; nothing but whitespace may follow the
// value.
func Transform(raw []byte) ([]byte, error) {
	out, end, err := canonicalValue(raw)
	if err != nil {
		return nil, err
	}
	if end = jsonlex.SkipSpace(raw, end); end < len(raw) {
		return nil, fmt.Errorf("canonical JSON: unexpected %s after the value at offset %d", quoteByte(raw[end]), end)
	}
	return out, nil
}

// maxCanonicalDepth is goccy/go-json's nesting limit, kept so that the same
// documents pass as when canonicalization decoded them with goccy.
const maxCanonicalDepth = 10000

// canonicalizer writes the canonical form of a JSON document straight from
// its bytes, without decoding it into Go values.
//
// It accepts what goccy/go-json's stream decoder (the previous way in)
// accepted, quirks included, so that every document keeps the bytes, and
// so the hash IDs, it had then: whitespace and one ',' or ':' before
// the value are skipped; numbers are any run of digits, signs, points and
// exponents that strconv.ParseFloat reads ("01", "1.", "-.5"); a key may be
// null, meaning ""; control characters may appear raw in strings; a \u
// escape reads the next four bytes, whatever they are, counting non-hex
// ones as 0; an unpaired surrogate becomes U+FFFD; invalid UTF-8 becomes
// U+FFFD, written escaped in values and raw in keys (goccy replaced it in
// keys only, and WriteString escapes what is left); of duplicate
// keys the last wins.
//
// It is stricter in two places. Bytes other than whitespace after the
// value are an error (goccy ignored them; no caller passes any). And a
// literal must be whole: goccy took "tru" at the end of the input as true,
// and a NUL byte in place of one of a literal's letters ("t\x00ue") too,
// because it mistook the end of its read buffer for the end of the value;
// what it did with a NUL byte depended on where its buffer ended.
type canonicalizer struct {
	in    []byte
	out   []byte
	depth int
	// keys holds the decoded keys of the objects being written and members
	// their members, innermost object last; both are truncated when an
	// object ends.
	keys    []byte
	members []canonicalMember
	// tmp is scratch for reordering an object's members.
	tmp []byte
}

// canonicalMember is one `"key":value` of an object: its decoded key in
// keys and its canonical bytes in out.
type canonicalMember struct {
	keyStart, keyEnd int
	start, end       int
}

var canonicalizers = sync.Pool{New: func() any { return new(canonicalizer) }}

// canonicalValue writes the canonical form of the value at the start of
// raw and returns the offset just after it.
func canonicalValue(raw []byte) ([]byte, int, error) {
	c := canonicalizers.Get().(*canonicalizer)
	defer c.release()
	c.in = raw
	c.out = make([]byte, 0, len(raw))
	i := jsonlex.SkipSpace(raw, 0)
	if i < len(raw) && (raw[i] == ',' || raw[i] == ':') {
		i++ // goccy's Decoder steps over one separator before a value
	}
	end, err := c.value(i)
	if err != nil {
		return nil, 0, err
	}
	return c.out, end, nil
}

// release returns c to the pool without the caller's bytes, and without
// scratch grown by an unusually large document.
func (c *canonicalizer) release() {
	const keep = 64 << 10
	c.in, c.out, c.depth = nil, nil, 0
	c.keys, c.members, c.tmp = c.keys[:0], c.members[:0], c.tmp[:0]
	if cap(c.keys) > keep || cap(c.members) > keep/32 || cap(c.tmp) > keep {
		*c = canonicalizer{}
	}
	canonicalizers.Put(c)
}

func (c *canonicalizer) value(i int) (int, error) {
	i = jsonlex.SkipSpace(c.in, i)
	if i >= len(c.in) {
		return i, errCanonicalEnd
	}
	switch b := c.in[i]; {
	case b == '{':
		return c.object(i)
	case b == '[':
		return c.array(i)
	case b == '"':
		return c.string(i, false)
	case b == '-' || '0' <= b && b <= '9':
		return c.number(i)
	case b == 't':
		return c.literal(i, "true")
	case b == 'f':
		return c.literal(i, "false")
	case b == 'n':
		return c.literal(i, "null")
	}
	return i, c.unexpected(i, "looking for a value")
}

func (c *canonicalizer) object(i int) (int, error) {
	if err := c.enter(i); err != nil {
		return i, err
	}
	defer c.leave()
	i = jsonlex.SkipSpace(c.in, i+1)
	if i < len(c.in) && c.in[i] == '}' {
		c.out = append(c.out, "{}"...)
		return i + 1, nil
	}
	c.out = append(c.out, '{')
	first, keysBase, base := len(c.out), len(c.keys), len(c.members)
	sorted := true
	for {
		m := canonicalMember{start: len(c.out), keyStart: len(c.keys)}
		var err error
		if i, err = c.key(i); err != nil {
			return i, err
		}
		m.keyEnd = len(c.keys)
		if i = jsonlex.SkipSpace(c.in, i); i >= len(c.in) || c.in[i] != ':' {
			return i, c.unexpected(i, "after an object key")
		}
		c.out = append(c.out, ':')
		if i, err = c.value(i + 1); err != nil {
			return i, err
		}
		m.end = len(c.out)
		if n := len(c.members); sorted && n > base {
			sorted = bytes.Compare(c.memberKey(c.members[n-1]), c.memberKey(m)) < 0
		}
		c.members = append(c.members, m)
		if i = jsonlex.SkipSpace(c.in, i); i < len(c.in) && c.in[i] == ',' {
			c.out = append(c.out, ',')
			i++
			continue
		}
		if i < len(c.in) && c.in[i] == '}' {
			break
		}
		return i, c.unexpected(i, "after an object value")
	}
	if !sorted {
		c.sortMembers(first, c.members[base:])
	}
	c.out = append(c.out, '}')
	c.keys, c.members = c.keys[:keysBase], c.members[:base]
	return i + 1, nil
}

// enter counts one more level of nesting, for the object or array at i.
func (c *canonicalizer) enter(i int) error {
	if c.depth++; c.depth > maxCanonicalDepth {
		return fmt.Errorf("canonical JSON: nested deeper than %d levels at offset %d", maxCanonicalDepth, i)
	}
	return nil
}

func (c *canonicalizer) leave() { c.depth-- }

// key writes an object key: a string, or null for the empty key.
func (c *canonicalizer) key(i int) (int, error) {
	i = jsonlex.SkipSpace(c.in, i)
	if i < len(c.in) && c.in[i] == '"' {
		return c.string(i, true)
	}
	if i < len(c.in) && c.in[i] == 'n' {
		if !bytes.HasPrefix(c.in[i:], []byte("null")) {
			return i, c.unexpected(i, "in a null key")
		}
		c.out = append(c.out, `""`...)
		return i + 4, nil
	}
	return i, c.unexpected(i, "looking for an object key")
}

func (c *canonicalizer) memberKey(m canonicalMember) []byte {
	return c.keys[m.keyStart:m.keyEnd]
}

// sortMembers rewrites an object's members, which start at out[first:],
// in key order, keeping only the last of members with the same key (the
// value a decode into a map keeps).
func (c *canonicalizer) sortMembers(first int, ms []canonicalMember) {
	slices.SortStableFunc(ms, func(a, b canonicalMember) int {
		return bytes.Compare(c.memberKey(a), c.memberKey(b))
	})
	c.tmp = append(c.tmp[:0], c.out[first:]...)
	c.out = c.out[:first]
	for j, m := range ms {
		if j+1 < len(ms) && bytes.Equal(c.memberKey(m), c.memberKey(ms[j+1])) {
			continue // a later member has the same key
		}
		if len(c.out) > first {
			c.out = append(c.out, ',')
		}
		c.out = append(c.out, c.tmp[m.start-first:m.end-first]...)
	}
}

func (c *canonicalizer) array(i int) (int, error) {
	if err := c.enter(i); err != nil {
		return i, err
	}
	defer c.leave()
	i = jsonlex.SkipSpace(c.in, i+1)
	if i < len(c.in) && c.in[i] == ']' {
		c.out = append(c.out, "[]"...)
		return i + 1, nil
	}
	c.out = append(c.out, '[')
	for {
		var err error
		if i, err = c.value(i); err != nil {
			return i, err
		}
		if i = jsonlex.SkipSpace(c.in, i); i < len(c.in) && c.in[i] == ',' {
			c.out = append(c.out, ',')
			i++
			continue
		}
		if i < len(c.in) && c.in[i] == ']' {
			c.out = append(c.out, ']')
			return i + 1, nil
		}
		return i, c.unexpected(i, "after an array element")
	}
}

// string writes the string starting at in[i] (its opening quote) as
// WriteString writes its decoded value. For a key it also appends
// the decoded value to keys, with invalid UTF-8 replaced as goccy did.
func (c *canonicalizer) string(i int, key bool) (int, error) {
	c.out = append(c.out, '"')
	i++
	for {
		// Most bytes stand for themselves: copy them in runs.
		j := i
		for j < len(c.in) && jsonlex.PlainByte[c.in[j]] {
			j++
		}
		c.out = append(c.out, c.in[i:j]...)
		if key {
			c.keys = append(c.keys, c.in[i:j]...)
		}
		if i = j; i >= len(c.in) {
			return i, errCanonicalEnd
		}
		switch b := c.in[i]; {
		case b == '"':
			c.out = append(c.out, '"')
			return i + 1, nil
		case b == '\\':
			r, next, err := c.escape(i)
			if err != nil {
				return next, err
			}
			c.rune(r, key)
			i = next
		case b == 0:
			// goccy read a NUL as the end of its buffer.
			return i, c.unexpected(i, "in a string")
		case b < utf8.RuneSelf:
			c.rune(rune(b), key) // a raw control character
			i++
		default:
			r, size := utf8.DecodeRune(c.in[i:])
			if r == utf8.RuneError && size == 1 && !key {
				// A byte that is not UTF-8, as WriteString
				// escapes it (in keys goccy had made it U+FFFD already).
				c.out = append(c.out, `\ufffd`...)
			} else {
				c.rune(r, key)
			}
			i += size
		}
	}
}

// rune writes one decoded character, escaped as WriteString
// escapes it (and raw to keys for a key).
func (c *canonicalizer) rune(r rune, key bool) {
	if key {
		c.keys = utf8.AppendRune(c.keys, r)
	}
	switch r {
	case '"':
		c.out = append(c.out, `\"`...)
	case '\\':
		c.out = append(c.out, `\\`...)
	case '\b':
		c.out = append(c.out, `\b`...)
	case '\f':
		c.out = append(c.out, `\f`...)
	case '\n':
		c.out = append(c.out, `\n`...)
	case '\r':
		c.out = append(c.out, `\r`...)
	case '\t':
		c.out = append(c.out, `\t`...)
	default:
		if r < 0x20 {
			const hex = "0123456789abcdef"
			c.out = append(c.out, '\\', 'u', '0', '0', hex[r>>4], hex[r&0xf])
			return
		}
		c.out = utf8.AppendRune(c.out, r)
	}
}

// escape decodes the escape sequence at in[i] (its backslash) and returns
// the offset after it.
func (c *canonicalizer) escape(i int) (rune, int, error) {
	if i+1 >= len(c.in) {
		return 0, i + 1, errCanonicalEnd
	}
	if e := c.in[i+1]; e == 'u' {
		return c.unicodeEscape(i + 1)
	} else if b, ok := jsonlex.SimpleEscape(e); ok {
		return rune(b), i + 2, nil
	}
	return 0, i + 1, c.unexpected(i+1, "in an escape")
}

// unicodeEscape decodes \uXXXX, and a following \uXXXX when the two make a
// surrogate pair, as goccy did: u is the offset of the 'u', the four bytes
// after it are read whatever they are, and goccy wanted one more byte
// after them (or after the pair) before it looked.
func (c *canonicalizer) unicodeEscape(u int) (rune, int, error) {
	if u+5 >= len(c.in) {
		return 0, u, errCanonicalEnd
	}
	r := goccyHex(c.in[u+1 : u+5])
	if !utf16.IsSurrogate(r) {
		return r, u + 5, nil
	}
	if u+11 < len(c.in) && c.in[u+5] == '\\' && c.in[u+6] == 'u' {
		if pair := utf16.DecodeRune(r, goccyHex(c.in[u+7:u+11])); pair != utf8.RuneError {
			return pair, u + 11, nil
		}
	}
	return utf8.RuneError, u + 5, nil
}

// goccyHex reads four hex digits; like goccy, a byte that is not one
// counts as 0.
func goccyHex(b []byte) rune {
	var r rune
	for _, d := range b {
		var v byte
		switch {
		case '0' <= d && d <= '9':
			v = d - '0'
		case 'a' <= d && d <= 'f':
			v = d - 'a' + 10
		case 'A' <= d && d <= 'F':
			v = d - 'A' + 10
		}
		r = r<<4 | rune(v)
	}
	return r
}

// number writes the number at in[i]: the longest run of number bytes, as
// goccy delimited it.
func (c *canonicalizer) number(i int) (int, error) {
	j := i + 1
	for j < len(c.in) && numberByte[c.in[j]] {
		j++
	}
	if run := c.in[i:j]; isCanonicalInt(run) {
		c.out = append(c.out, run...)
	} else {
		s, err := canonicalNumber(string(run))
		if err != nil {
			return i, err
		}
		c.out = append(c.out, s...)
	}
	return j, nil
}

// isCanonicalInt reports whether b is an integer that canonicalNumber
// would return unchanged: no leading zeros, not -0, at most 18 digits (so
// it fits an int64).
func isCanonicalInt(b []byte) bool {
	digits := b
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > 18 || digits[0] == '0' && len(b) > 1 {
		return false
	}
	for _, d := range digits {
		if d < '0' || d > '9' {
			return false
		}
	}
	return true
}

func (c *canonicalizer) literal(i int, lit string) (int, error) {
	if !bytes.HasPrefix(c.in[i:], []byte(lit)) {
		return i, c.unexpected(i, "in "+lit)
	}
	c.out = append(c.out, lit...)
	return i + len(lit), nil
}

func (c *canonicalizer) unexpected(i int, where string) error {
	if i >= len(c.in) {
		return errCanonicalEnd
	}
	return fmt.Errorf("canonical JSON: unexpected %s %s at offset %d", quoteByte(c.in[i]), where, i)
}

var errCanonicalEnd = errors.New("canonical JSON: unexpected end of input")

func quoteByte(b byte) string {
	if b < utf8.RuneSelf {
		return strconv.QuoteRune(rune(b))
	}
	return fmt.Sprintf("byte 0x%02x", b)
}

// numberByte marks the bytes goccy reads as part of a number.
var numberByte = [256]bool{'0': true, '1': true, '2': true, '3': true, '4': true, '5': true, '6': true,
	'7': true, '8': true, '9': true, '.': true, 'e': true, 'E': true, '+': true, '-': true}

func canonicalNumber(s string) (string, error) {
	// Integers that fit exactly keep their digits; everything else goes through
	// float64 like every JSON consumer would read it.
	if !strings.ContainsAny(s, ".eE") {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			if n == 0 {
				return "0", nil
			}
			return strconv.FormatInt(n, 10), nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return "", fmt.Errorf("canonical JSON: bad number %q", s)
	}
	return formatNumber(f)
}

// formatNumber writes f the way ECMAScript's Number.prototype.toString does,
// which is what RFC 8785 prescribes.
func formatNumber(f float64) (string, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "", fmt.Errorf("canonical JSON: %v is not a JSON number", f)
	}
	if f == 0 {
		return "0", nil
	}
	abs := math.Abs(f)
	if abs >= 1e-6 && abs < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64), nil
	}
	s := strconv.FormatFloat(f, 'e', -1, 64)
	// Go writes 1e+21 / 1e-07; ECMAScript writes 1e+21 / 1e-7.
	mant, exp, _ := strings.Cut(s, "e")
	sign := exp[0]
	exp = strings.TrimLeft(exp[1:], "0")
	return mant + "e" + string(sign) + exp, nil
}

// WriteString writes s as a canonical JSON string: only quotes,
// backslashes and control characters escaped, invalid UTF-8 as \ufffd.
// It is the form Transform gives a decoded string, for writing canonical
// JSON without building it as a document first.
func WriteString(buf *bytes.Buffer, s string) {
	buf.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '"':
			buf.WriteString(`\"`)
		case r == '\\':
			buf.WriteString(`\\`)
		case r == '\b':
			buf.WriteString(`\b`)
		case r == '\f':
			buf.WriteString(`\f`)
		case r == '\n':
			buf.WriteString(`\n`)
		case r == '\r':
			buf.WriteString(`\r`)
		case r == '\t':
			buf.WriteString(`\t`)
		case r < 0x20:
			fmt.Fprintf(buf, `\u%04x`, r)
		case r == utf8.RuneError && size == 1:
			buf.WriteString(`\ufffd`)
		default:
			buf.WriteString(s[i : i+size])
		}
		i += size
	}
	buf.WriteByte('"')
}
