package gitstore

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/go-git/go-git/v6/plumbing"
	"github.com/go-git/go-git/v6/plumbing/format/objfile"
)

// A Stream writes a file's content to w. Files that grow with the number
// of cases (a candidate's cases.jsonl: tens of megabytes) are committed
// from a Stream, so their content is never held in memory.
//
// A blob's header states its size before its content, so a Stream is
// called twice: once to measure the content, once to store it. Both calls
// must write the same bytes; when they do not, the commit fails and the
// repository gains nothing but an unreferenced blob.
type Stream func(w io.Writer) error

// bytesStream is content held in memory, as a Stream.
func bytesStream(data []byte) Stream {
	return func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}
}

// shape is what writing content through it learns: its size, a checksum
// (to tell that a second writing gave the same bytes) and whether it holds
// a CRLF, which the clean filter may convert.
type shape struct {
	size   int64
	sum    uint32
	crlf   bool
	lastCR bool // the last byte so far is '\r': a CRLF may straddle two writes
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func (s *shape) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if !s.crlf {
		s.crlf = (s.lastCR && p[0] == '\n') || bytes.Contains(p, []byte("\r\n"))
	}
	s.lastCR = p[len(p)-1] == '\r'
	s.size += int64(len(p))
	s.sum = crc32.Update(s.sum, castagnoli, p)
	return len(p), nil
}

func (s shape) same(o shape) bool { return s.size == o.size && s.sum == o.sum }

// measure writes s once, to learn its shape.
func measure(s Stream) (shape, error) {
	var m shape
	err := s(&m)
	return m, err
}

// errChanged is a Stream that wrote other bytes the second time.
var errChanged = errors.New("its content changed between measuring and writing it")

func changed(want, got shape) error {
	return fmt.Errorf("%w (%d bytes, then %d)", errChanged, want.size, got.size)
}

// writeBlob stores s, whose first writing had the shape want, as a loose
// blob, compressing and hashing it as it is written: nothing but a
// buffer is held in memory, whatever its size.
func (g *Git) writeBlob(s Stream, want shape) (plumbing.Hash, error) {
	w, err := g.repo.Storer.RawObjectWriter(plumbing.BlobObject, want.size)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	hashed, ok := w.(interface{ Hash() plumbing.Hash })
	if !ok {
		w.Close()
		return plumbing.ZeroHash, fmt.Errorf("this repository's storage (%T) cannot stream objects", g.repo.Storer)
	}
	var got shape
	werr := s(io.MultiWriter(&got, w))
	// A short second writing is padded to the declared size, so the loose
	// object stays whole (an unreferenced blob) rather than corrupt.
	if got.size < want.size {
		if _, err := io.CopyN(w, zeros{}, want.size-got.size); err != nil {
			werr = errors.Join(werr, err)
		}
	}
	cerr := w.Close()
	switch {
	case werr != nil && !errors.Is(werr, objfile.ErrOverflow):
		return plumbing.ZeroHash, werr
	case !got.same(want): // an overflow is this too
		return plumbing.ZeroHash, changed(want, got)
	case cerr != nil:
		return plumbing.ZeroHash, cerr
	}
	return hashed.Hash(), nil
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
