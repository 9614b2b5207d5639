package jsonwriter

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// AppendCompact appends raw JSON with the whitespace between tokens
// removed, as goccy's Encoder writes a json.RawMessage (through goccy's
// Compact with HTML escaping off). It follows that function step by step,
// quirks included, so that the same inputs give the same bytes and the
// same inputs fail: a NUL byte ends the input, as goccy's sentinel does;
// strings are copied as they are, unchecked; a number is any run of
// digits, signs, dots and exponents that strconv.ParseFloat takes, so 01
// passes and 1e400 fails. On failure dst is returned unchanged.
//
// It copies the runs of bytes between whitespace rather than token by
// token, so JSON that is already compact is checked and copied at once.
func AppendCompact(dst, raw []byte) ([]byte, error) {
	c := compactor{src: raw, dst: dst}
	i, err := c.value(0)
	if err == nil {
		if i = c.space(i); c.at(i) != 0 {
			err = c.syntax(i, "after the top-level value")
		}
	}
	if err != nil {
		return dst, err
	}
	return append(c.dst, c.src[c.from:i]...), nil
}

type compactor struct {
	src, dst []byte
	from     int // where the run not yet copied to dst starts
}

// at is src[i], or 0 past the end: goccy reads its input with a NUL
// appended.
func (c *compactor) at(i int) byte {
	if i < len(c.src) {
		return c.src[i]
	}
	return 0
}

// space skips whitespace, copying the run before it.
func (c *compactor) space(i int) int {
	if i >= len(c.src) || !jsonSpace[c.src[i]] {
		return i
	}
	c.dst = append(c.dst, c.src[c.from:i]...)
	for i < len(c.src) && jsonSpace[c.src[i]] {
		i++
	}
	c.from = i
	return i
}

var jsonSpace = [256]bool{' ': true, '\t': true, '\n': true, '\r': true}

func (c *compactor) syntax(i int, where string) error {
	if c.at(i) == 0 {
		return fmt.Errorf("json: unexpected end of JSON input %s", where)
	}
	return fmt.Errorf("json: invalid character %q at offset %d %s", c.at(i), i, where)
}

func (c *compactor) value(i int) (int, error) {
	i = c.space(i)
	switch b := c.at(i); b {
	case '{':
		return c.object(i)
	case '[':
		return c.array(i)
	case '"':
		return c.string(i)
	case 't':
		return c.literal(i, "true")
	case 'f':
		return c.literal(i, "false")
	case 'n':
		return c.literal(i, "null")
	default:
		if b == '-' || '0' <= b && b <= '9' {
			return c.number(i)
		}
		return 0, c.syntax(i, "looking for a value")
	}
}

func (c *compactor) object(i int) (int, error) {
	i = c.space(i + 1)
	if c.at(i) == '}' {
		return i + 1, nil
	}
	for {
		var err error
		if i, err = c.string(c.space(i)); err != nil {
			return 0, err
		}
		if i = c.space(i); c.at(i) != ':' {
			return 0, c.syntax(i, "after an object key")
		}
		if i, err = c.value(i + 1); err != nil {
			return 0, err
		}
		i = c.space(i)
		switch c.at(i) {
		case '}':
			return i + 1, nil
		case ',':
		default:
			return 0, c.syntax(i, "after an object value")
		}
		i++
	}
}

func (c *compactor) array(i int) (int, error) {
	i = c.space(i + 1)
	if c.at(i) == ']' {
		return i + 1, nil
	}
	for {
		var err error
		if i, err = c.value(i); err != nil {
			return 0, err
		}
		i = c.space(i)
		switch c.at(i) {
		case ']':
			return i + 1, nil
		case ',':
		default:
			return 0, c.syntax(i, "after an array element")
		}
		i++
	}
}

// string finds the end of a string, kept as it is: a quote not escaped by
// a backslash.
func (c *compactor) string(i int) (int, error) {
	if c.at(i) != '"' {
		return 0, c.syntax(i, "looking for a string")
	}
	for i++; i < len(c.src); i++ {
		if !stringStop[c.src[i]] {
			continue
		}
		switch c.src[i] {
		case '"':
			return i + 1, nil
		case '\\':
			if i++; c.at(i) == 0 {
				return 0, c.syntax(i, "in a string")
			}
		default: // NUL
			return 0, c.syntax(i, "in a string")
		}
	}
	return 0, c.syntax(i, "in a string")
}

// stringStop marks the bytes that end a string or change how it is read.
var stringStop = [256]bool{'"': true, '\\': true, 0: true}

// numberByte marks the bytes goccy reads as part of a number.
var numberByte = [256]bool{'0': true, '1': true, '2': true, '3': true, '4': true, '5': true, '6': true,
	'7': true, '8': true, '9': true, '.': true, 'e': true, 'E': true, '+': true, '-': true}

func (c *compactor) number(i int) (int, error) {
	start := i
	for i++; numberByte[c.at(i)]; i++ {
	}
	num := c.src[start:i]
	if !isPlainNumber(num) { // those ParseFloat always takes
		if _, err := strconv.ParseFloat(string(num), 64); err != nil {
			return 0, err
		}
	}
	return i, nil
}

// isPlainNumber reports whether num is digits with an optional minus,
// fraction and exponent of at most two digits, and at most 20 digits in
// all before it: a number ParseFloat takes (it could neither overflow nor
// be malformed).
func isPlainNumber(num []byte) bool {
	if len(num) > 0 && num[0] == '-' {
		num = num[1:]
	}
	mantissa := digitsLen(num)
	if mantissa == 0 || mantissa > 20 {
		return false
	}
	num = num[mantissa:]
	if len(num) > 0 && num[0] == '.' {
		n := digitsLen(num[1:])
		if n == 0 || mantissa+n > 20 {
			return false
		}
		num = num[1+n:]
	}
	if len(num) > 0 && (num[0] == 'e' || num[0] == 'E') {
		num = num[1:]
		if len(num) > 0 && (num[0] == '+' || num[0] == '-') {
			num = num[1:]
		}
		n := digitsLen(num)
		if n == 0 || n > 2 {
			return false
		}
		num = num[n:]
	}
	return len(num) == 0
}

func digitsLen(b []byte) int {
	n := 0
	for n < len(b) && '0' <= b[n] && b[n] <= '9' {
		n++
	}
	return n
}

func (c *compactor) literal(i int, word string) (int, error) {
	if !bytes.HasPrefix(c.src[i:], []byte(word)) {
		return 0, errors.New("json: invalid literal, expected " + word)
	}
	return i + len(word), nil
}
