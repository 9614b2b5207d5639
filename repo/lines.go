package repo

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// MaxLine bounds one line of a JSONL file (a case with a big input is fine;
// a runaway file is not).
const MaxLine = 64 << 20

// ErrLineTooLong is returned by EachLine for a line over MaxLine.
var ErrLineTooLong = fmt.Errorf("a line is longer than %d MiB", MaxLine>>20)

// EachLine calls fn with every line of r (without its newline), its
// 1-based number and its byte offset. complete is false for a last line
// that has no newline: a dataset accepts it, while an append-only record
// treats it as torn by a crash. The slice is only valid during the call.
func EachLine(r io.Reader, fn func(line []byte, number int, offset int64, complete bool) error) error {
	br := bufio.NewReaderSize(r, 256<<10)
	var long []byte
	var offset int64
	for number := 1; ; number++ {
		chunk, err := br.ReadSlice('\n')
		for errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, chunk...)
			if len(long) > MaxLine {
				return fmt.Errorf("line %d: %w", number, ErrLineTooLong)
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
