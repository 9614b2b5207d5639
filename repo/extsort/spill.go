// Package extsort sorts records by key with bounded memory: the external
// sort the streamed reports, regrade and analyze use, so what they hold
// does not grow with a run.
package extsort

import (
	"bufio"
	"cmp"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
)

// Budget is how many bytes of records a Sorter holds, by default, before
// it writes a sorted batch to disk: what a reader keeps in memory, whatever
// the run's size.
const Budget = 16 << 20

// Sorter sorts records by key with bounded memory. Records gather in
// memory up to a budget; each full batch is sorted and written to a
// temporary file, and Each merges the files. Records of one key come out
// in the order they were added, so a later record can override an earlier
// one as it would in a map.
type Sorter struct {
	budget int
	batch  []rec
	size   int
	dir    string // created at the first spill
	files  []string
	seq    uint64
}

type rec struct {
	key string
	seq uint64
	val []byte
}

// NewSorter starts a sorter that spills past budget bytes.
func NewSorter(budget int) *Sorter { return &Sorter{budget: budget} }

func compareRecs(a, b rec) int {
	return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.seq, b.seq))
}

// Add queues a record; val is copied.
func (s *Sorter) Add(key string, val []byte) error {
	r := rec{key: key, seq: s.seq, val: slices.Clone(val)}
	s.seq++
	s.batch = append(s.batch, r)
	s.size += len(key) + len(val) + 64 // 64: the record's own header
	if s.size >= s.budget {
		return s.spill()
	}
	return nil
}

// spill writes the batch, sorted, to a new file.
func (s *Sorter) spill() error {
	if len(s.batch) == 0 {
		return nil
	}
	if s.dir == "" {
		dir, err := os.MkdirTemp("", "selfevals-sort-")
		if err != nil {
			return err
		}
		s.dir = dir
	}
	slices.SortFunc(s.batch, compareRecs)
	path := filepath.Join(s.dir, fmt.Sprintf("%d", len(s.files)))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 64<<10)
	var hdr []byte
	for _, r := range s.batch {
		hdr = binary.AppendUvarint(hdr[:0], uint64(len(r.key)))
		hdr = append(hdr, r.key...)
		hdr = binary.AppendUvarint(hdr, r.seq)
		hdr = binary.AppendUvarint(hdr, uint64(len(r.val)))
		w.Write(hdr)
		w.Write(r.val)
	}
	err = errors.Join(w.Flush(), f.Close())
	if err != nil {
		return fmt.Errorf("writing a sort file: %w", err)
	}
	s.files = append(s.files, path)
	clear(s.batch) // let the collector have the values
	s.batch, s.size = s.batch[:0], 0
	return nil
}

// Each calls fn with every record in key order. It can run once.
func (s *Sorter) Each(fn func(key string, val []byte) error) error {
	if len(s.files) == 0 {
		slices.SortFunc(s.batch, compareRecs)
		for _, r := range s.batch {
			if err := fn(r.key, r.val); err != nil {
				return err
			}
		}
		return nil
	}
	if err := s.spill(); err != nil {
		return err
	}
	return s.merge(fn)
}

// merge streams the sorted files through a heap of their next records.
func (s *Sorter) merge(fn func(key string, val []byte) error) error {
	h := &fileHeap{}
	for _, p := range s.files {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		src := &file{r: bufio.NewReaderSize(f, 32<<10)}
		ok, err := src.next()
		if err != nil {
			return err
		}
		if ok {
			h.srcs = append(h.srcs, src)
		}
	}
	heap.Init(h)
	for h.Len() > 0 {
		src := h.srcs[0]
		if err := fn(src.cur.key, src.cur.val); err != nil {
			return err
		}
		ok, err := src.next()
		switch {
		case err != nil:
			return err
		case ok:
			heap.Fix(h, 0)
		default:
			heap.Pop(h)
		}
	}
	return nil
}

// Close removes the sort files.
func (s *Sorter) Close() error {
	s.batch = nil
	if s.dir == "" {
		return nil
	}
	return os.RemoveAll(s.dir)
}

type file struct {
	r   *bufio.Reader
	cur rec
}

// next reads the file's next record; false at its end.
func (f *file) next() (bool, error) {
	n, err := binary.ReadUvarint(f.r)
	if err == io.EOF {
		return false, nil
	}
	key, err := readN(f.r, n, err)
	var seq uint64
	if err == nil {
		seq, err = binary.ReadUvarint(f.r)
	}
	if err == nil {
		n, err = binary.ReadUvarint(f.r)
	}
	val, err := readN(f.r, n, err)
	if err != nil {
		return false, fmt.Errorf("reading a sort file: %w", err)
	}
	f.cur = rec{key: string(key), seq: seq, val: val}
	return true, nil
}

func readN(r io.Reader, n uint64, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	if n > math.MaxInt32 {
		return nil, errors.New("record too large")
	}
	b := make([]byte, n)
	_, err = io.ReadFull(r, b)
	return b, err
}

type fileHeap struct{ srcs []*file }

func (h *fileHeap) Len() int           { return len(h.srcs) }
func (h *fileHeap) Less(i, j int) bool { return compareRecs(h.srcs[i].cur, h.srcs[j].cur) < 0 }
func (h *fileHeap) Swap(i, j int)      { h.srcs[i], h.srcs[j] = h.srcs[j], h.srcs[i] }
func (h *fileHeap) Push(x any)         { h.srcs = append(h.srcs, x.(*file)) }
func (h *fileHeap) Pop() any {
	x := h.srcs[len(h.srcs)-1]
	h.srcs = h.srcs[:len(h.srcs)-1]
	return x
}

// Files is how many sorted batches went to disk (for tests).
func (s *Sorter) Files() int { return len(s.files) }
