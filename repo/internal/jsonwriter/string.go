package jsonwriter

import (
	"bytes"
	"unicode/utf8"

	"github.com/goccy/go-json"
	"github.com/selfevals/selfevals/repo/internal/jsonlex"
)

// AppendString appends s as a JSON string the way goccy's Encoder does by
// default with HTML escaping off: quotes, backslashes and control
// characters escaped; each byte of invalid UTF-8 as \ufffd; U+2028 and
// U+2029 escaped; everything else as it is (<, > and & too).
func AppendString(dst []byte, s string) []byte {
	if isPlain(s) { // nearly every string
		return append(append(append(dst, '"'), s...), '"')
	}
	return appendEscaped(dst, s)
}

func appendEscaped(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		// Skip plain text 8 bytes at a time, then byte by byte up to the
		// byte that stopped it.
		i += plainChunks(s[i:])
		for i < len(s) && jsonlex.PlainByte[s[i]] {
			i++
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			dst = appendEscapedASCII(append(dst, s[start:i]...), c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(append(dst, s[start:i]...), `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(append(dst, s[start:i]...), `\u202`...)
			dst = append(dst, hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// isPlain reports whether s is written as it is, all its bytes plain.
func isPlain(s string) bool {
	if len(s) < 8 {
		for i := 0; i < len(s); i++ {
			if !jsonlex.PlainByte[s[i]] {
				return false
			}
		}
		return true
	}
	// Test 8 bytes at a time, the last 8 overlapping those before; no
	// early exit, as nearly every string is plain.
	flags := flagBits(load8(s[len(s)-8:]))
	for ; len(s) >= 16; s = s[16:] {
		flags |= flagBits(load8(s)) | flagBits(load8(s[8:]))
	}
	if len(s) >= 8 {
		flags |= flagBits(load8(s))
	}
	return flags&highBits == 0
}

// plainChunks returns the length of the leading 8-byte chunks of s whose
// bytes are all plain. A chunk that is not holds a byte that is not plain.
func plainChunks(s string) int {
	n := 0
	for ; len(s) >= 8; s = s[8:] {
		if flagBits(load8(s))&highBits != 0 {
			break
		}
		n += 8
	}
	return n
}

const highBits = 0x8080808080808080

// flagBits sets the high bit of each byte of x (and maybe of bytes above
// it) that is below 0x20, a quote, a backslash or not ASCII: it tests
// eight bytes at once, as goccy does. Borrows only carry upwards, so the
// lowest byte flagged is always a real one.
func flagBits(x uint64) uint64 {
	const ones = 0x0101010101010101
	return x | (x - ones*0x20) | ((x ^ ones*'"') - ones) | ((x ^ ones*'\\') - ones)
}

// load8 reads s's first 8 bytes as a little-endian number (one load).
func load8(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

const hexDigits = "0123456789abcdef"

func appendEscapedASCII(dst []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
}

// AppendQuoted appends s as a JSON string: printable ASCII other than
// quotes and backslashes as it is (<, > and & included), any other string
// as json.Marshal writes it, which escapes <, > and & too. It means the
// same string as AppendString; its bytes differ only in those escapes.
func AppendQuoted(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			b, _ := json.Marshal(s)
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// AppendLine appends free-form JSON on one line, for protocols of one
// message a line: JSON written across lines is compacted, empty raw is
// null, and anything else (invalid JSON included) is copied as it is.
func AppendLine(dst, raw []byte) []byte {
	if len(raw) == 0 {
		return append(dst, "null"...)
	}
	if bytes.IndexByte(raw, '\n') >= 0 || bytes.IndexByte(raw, '\r') >= 0 {
		var buf bytes.Buffer
		if json.Compact(&buf, raw) == nil {
			return append(dst, buf.Bytes()...)
		}
	}
	return append(dst, raw...)
}
