package repo

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// MaxLine bounds one line of a JSONL file that people write (a case with a
// big input is fine; a runaway file is not).
const MaxLine = 64 << 20

// MaxAnswerBytes bounds agent.max_output_bytes: the largest answer a run
// accepts. Every reader of the run record reads back a line that holds one
// (MaxRecordLine).
const MaxAnswerBytes = 16 << 20

// MaxRecordLine bounds one line of a file selfevals writes itself
// (results.jsonl, the call cache): an answer of MaxAnswerBytes escaped for
// JSON at worst six bytes a byte (\u0001), plus room for the rest of the
// record.
const MaxRecordLine = 8 * MaxAnswerBytes

// ErrLineTooLong is returned by EachLine for a line over its bound.
var ErrLineTooLong = errors.New("a line is too long")

// EachLine calls fn with every line of r (without its newline), its
// 1-based number and its byte offset. complete is false for a last line
// that has no newline: a dataset accepts it, while an append-only record
// treats it as torn by a crash. The slice is only valid during the call.
func EachLine(r io.Reader, fn func(line []byte, number int, offset int64, complete bool) error) error {
	return EachLineUpTo(r, MaxLine, fn)
}

// EachLineUpTo is EachLine with lines bounded by max bytes instead.
func EachLineUpTo(r io.Reader, max int, fn func(line []byte, number int, offset int64, complete bool) error) error {
	br := bufio.NewReaderSize(r, 256<<10)
	var long []byte
	var offset int64
	for number := 1; ; number++ {
		chunk, err := br.ReadSlice('\n')
		for errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, chunk...)
			if len(long) > max {
				return fmt.Errorf("line %d: %w (over %d MiB)", number, ErrLineTooLong, max>>20)
			}
			chunk, err = br.ReadSlice('\n')
		}
		line := chunk
		if long != nil {
			line = append(long, chunk...)
			long = nil
		}
		if err != nil && err != io.EOF {
			return err
		}
		complete := err == nil
		if complete {
			line = line[:len(line)-1]
		}
		if complete || len(line) > 0 {
			if ferr := fn(line, number, offset, complete); ferr != nil {
				return ferr
			}
		}
		offset += int64(len(line))
		if complete {
			offset++
		}
		if err == io.EOF {
			return nil
		}
	}
}

// maxUTF8Problems bounds how many lines with bad bytes one file reports: a
// file in another encoding has them on nearly every line, and the first
// few say what is wrong.
const maxUTF8Problems = 10

// CheckUTF8 reports every line of a text file that is not UTF-8 (up to
// maxUTF8Problems), each at the column of its first bad byte. selfevals
// reads and rewrites only UTF-8: a byte from another encoding would
// otherwise turn into U+FFFD, silently changing what the file says.
func CheckUTF8(name string, data []byte) Problems {
	if utf8.Valid(data) {
		return nil
	}
	var probs Problems
	for n, line := range bytes.SplitAfter(data, []byte{'\n'}) {
		if p := CheckUTF8Line(name, n+1, line); p != nil {
			if len(probs) == maxUTF8Problems {
				probs[len(probs)-1].Hint += "; later lines are not listed"
				break
			}
			probs = append(probs, *p)
		}
	}
	return probs
}

// CheckUTF8Line is CheckUTF8 for one line of a file (numbered from 1), or
// nil when it is valid.
func CheckUTF8Line(name string, number int, line []byte) *Problem {
	if utf8.Valid(line) {
		return nil
	}
	col := 1
	for i := 0; i < len(line); {
		r, size := utf8.DecodeRune(line[i:])
		if r == utf8.RuneError && size <= 1 {
			return &Problem{File: name, Line: number, Col: col,
				Msg:  fmt.Sprintf("not valid UTF-8: byte 0x%02X", line[i]),
				Hint: "save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"}
		}
		i += size
		col++
	}
	return nil
}
