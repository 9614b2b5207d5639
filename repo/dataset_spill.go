package repo

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
)

// caseSpill is a large dataset's cases decoded once: the first full walk
// of a validated file (dataset.go's eachValidated) writes each case in
// caseCodec's form to a temporary file, and later walks read that instead
// of decoding every JSON line again, as each iteration of a run would.
// The file is removed as soon as it is made (where the system allows), so
// nothing is left behind however the process ends; it closes when the
// spill is collected.
//
// A Dataset holds its spill by pointer: the copies Shard makes share it,
// and the Dataset stays safe to copy.
type caseSpill struct {
	mu    sync.Mutex
	state spillState
	f     *os.File
	size  int64 // bytes of complete records, once ready
}

type spillState uint8

const (
	spillNone    spillState = iota // not written yet
	spillWriting                   // a walk is writing it
	spillReady                     // complete: walks read it
	spillFailed                    // could not be written: walks decode
)

// spillRecordMax bounds one case's record: larger means a damaged file.
const spillRecordMax = 1 << 30

// begin returns a writer if the spill is to be written by the caller's
// walk: it has not been yet, and no other walk is writing it.
func (s *caseSpill) begin() *spillWriter {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != spillNone {
		return nil
	}
	if s.f == nil && !s.create() {
		s.state = spillFailed
		return nil
	}
	s.state = spillWriting
	return &spillWriter{w: bufio.NewWriterSize(s.f, 256<<10), codec: theCaseCodec()}
}

// create makes the spill's temporary file.
func (s *caseSpill) create() bool {
	f, err := os.CreateTemp("", "selfevals-cases-*")
	if err != nil {
		return false
	}
	s.f = f
	if os.Remove(f.Name()) != nil {
		// Where an open file cannot be removed, it goes with its spill.
		name := f.Name()
		runtime.AddCleanup(s, func(f *os.File) { f.Close(); os.Remove(name) }, f)
	} else {
		runtime.AddCleanup(s, func(f *os.File) { f.Close() }, f)
	}
	return true
}

// end ends the writing walk: the spill is ready if the walk wrote every
// one of the dataset's cases and the file was unchanged throughout;
// otherwise it is emptied, and the next full walk writes it again.
func (s *caseSpill) end(w *spillWriter, complete bool) {
	if w.err == nil {
		w.err = w.w.Flush()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case complete && w.err == nil:
		s.state, s.size = spillReady, w.size
	case w.err != nil:
		s.state = spillFailed // a full disk stays full: decode instead
	default:
		s.state = spillNone
		if _, err := s.f.Seek(0, io.SeekStart); err != nil || s.f.Truncate(0) != nil {
			s.state = spillFailed
		}
	}
}

// ready returns the spill's records if it is complete.
func (s *caseSpill) ready() (*io.SectionReader, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != spillReady {
		return nil, false
	}
	// ReadAt is safe on one file from several walks at once.
	return io.NewSectionReader(s.f, 0, s.size), true
}

// spillWriter writes a walk's cases to the spill as they go by.
type spillWriter struct {
	w     *bufio.Writer
	codec *caseCodec
	buf   []byte
	n     int   // cases written
	size  int64 // bytes written
	err   error
}

// add writes one case: its record's length, its line, then the record.
func (w *spillWriter) add(c *Case) {
	if w.err != nil {
		return
	}
	// The header goes in the same buffer, after the record, and is
	// written first: one buffer, no allocation a case.
	w.buf = w.codec.append(w.buf[:0], c)
	size := len(w.buf)
	w.buf = binary.AppendUvarint(w.buf, uint64(size))
	w.buf = binary.AppendUvarint(w.buf, uint64(c.Line))
	if _, err := w.w.Write(w.buf[size:]); err != nil {
		w.err = err
		return
	}
	_, w.err = w.w.Write(w.buf[:size])
	w.n++
	w.size += int64(len(w.buf))
}

// eachSpilled walks the spilled cases in file order, each with its ID
// from the index (as eachValidated gives it).
func (d *Dataset) eachSpilled(records *io.SectionReader, fn func(*Case) error) error {
	r := bufio.NewReaderSize(records, 256<<10)
	codec := theCaseCodec()
	for i := range d.index.Len() {
		size, err1 := binary.ReadUvarint(r)
		line, err2 := binary.ReadUvarint(r)
		if err := errors.Join(err1, err2); err != nil || size > spillRecordMax {
			return fmt.Errorf("%s: spilled cases cut short at case %d", d.file.name, i+1)
		}
		buf := make([]byte, size) // the case's texts: see codecReader
		if _, err := io.ReadFull(r, buf); err != nil {
			return fmt.Errorf("%s: spilled cases cut short at case %d: %w", d.file.name, i+1, err)
		}
		var c Case
		if err := codec.decode(buf, &c); err != nil {
			return fmt.Errorf("%s: spilled case %d: %w", d.file.name, i+1, err)
		}
		c.ID, c.Line = d.index.ID(d.index.RankAt(i)), int(line)
		if err := fn(&c); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

// eachLarge walks a validated file too large to keep: from its spill
// when a walk has written it, else decoding the file (and writing the
// spill as it goes, unless another walk is).
func (d *Dataset) eachLarge(fn func(*Case) error) error {
	if d.spill == nil {
		return d.eachValidated(fn)
	}
	if records, ok := d.spill.ready(); ok {
		return d.eachSpilled(records, fn)
	}
	w := d.spill.begin()
	if w == nil {
		return d.eachValidated(fn)
	}
	err := d.eachValidated(func(c *Case) error {
		w.add(c)
		return fn(c)
	})
	// A walk that fn stopped early wrote only some cases; a file changed
	// since it was validated would spill what it holds now.
	d.spill.end(w, err == nil && w.n == d.index.Len() && d.unchanged())
	return err
}
