package runner

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
)

// bitset is one bit per index.
type bitset []uint64

func newBitset(n int) bitset { return make(bitset, (n+63)/64) }

func (b bitset) get(i int) bool { return b[i/64]&(1<<(i%64)) != 0 }
func (b bitset) set(i int)      { b[i/64] |= 1 << (i % 64) }

// grow makes room for n bits.
func (b *bitset) grow(n int) {
	for len(*b) < (n+63)/64 {
		*b = append(*b, 0)
	}
}

// modeSets interns the sets of failure modes cases end up with: a run has
// few distinct sets however many cases it has, so a case holds a number.
// Set 0 is the empty set; sets are sorted.
type modeSets struct {
	sets  [][]string
	byKey map[string]uint32   // a set's modes joined by NUL → its number
	next  map[modeStep]uint32 // set + mode → the set with it
}

type modeStep struct {
	set  uint32
	mode string
}

// with is set s with mode m added.
func (ms *modeSets) with(s uint32, m string) uint32 {
	if ms.sets == nil {
		ms.sets = [][]string{nil}
		ms.byKey, ms.next = map[string]uint32{"": 0}, map[modeStep]uint32{}
	}
	if n, ok := ms.next[modeStep{s, m}]; ok {
		return n
	}
	cur := ms.sets[s]
	if _, found := slices.BinarySearch(cur, m); found {
		ms.next[modeStep{s, m}] = s
		return s
	}
	set := slices.Insert(slices.Clone(cur), 0, m)
	slices.Sort(set)
	key := ""
	for i, x := range set {
		if i > 0 {
			key += "\x00"
		}
		key += x
	}
	n, ok := ms.byKey[key]
	if !ok {
		n = uint32(len(ms.sets))
		ms.sets = append(ms.sets, set)
		ms.byKey[key] = n
	}
	ms.next[modeStep{s, m}] = n
	return n
}

// textStore keeps texts (the failing grades' reasons) for a run's end,
// without a string per case: appended to one buffer, each after its
// length, and past textsInMemory bytes to a temporary file. A reference
// is the text's offset + 1. Texts that repeat are stored once while there
// are few distinct ones.
type textStore struct {
	mem   []byte
	spill *spill // nil until mem is full
	known map[string]uint64
}

// textsInMemory is how many bytes of texts stay in memory; the rest go
// to a temporary file, read back once, in case ID order, at the end.
var textsInMemory = 2 << 20

// textsInterned bounds how many distinct texts are looked up for reuse.
const textsInterned = 1024

func (ts *textStore) put(t string) uint64 {
	if ref, ok := ts.known[t]; ok {
		return ref
	}
	var ref uint64
	if ts.spill == nil && len(ts.mem)+len(t)+binary.MaxVarintLen64 > textsInMemory {
		ts.spill = newSpill()
	}
	if ts.spill != nil && ts.spill.err == nil {
		ref = uint64(len(ts.mem)) + ts.spill.append(t) + 1
	} else {
		ref = uint64(len(ts.mem)) + 1
		ts.mem = binary.AppendUvarint(ts.mem, uint64(len(t)))
		ts.mem = append(ts.mem, t...)
	}
	if ts.known == nil {
		ts.known = map[string]uint64{}
	}
	if len(ts.known) < textsInterned {
		ts.known[t] = ref
	}
	return ref
}

func (ts *textStore) get(ref uint64) (string, error) {
	off := ref - 1
	if off < uint64(len(ts.mem)) {
		n, k := binary.Uvarint(ts.mem[off:])
		start := off + uint64(k)
		return string(ts.mem[start : start+n]), nil
	}
	return ts.spill.read(off - uint64(len(ts.mem)))
}

// spill is an append-only temporary file of length-prefixed texts. It is
// removed as soon as it is made (where the system allows), so nothing is
// left behind however the process ends.
type spill struct {
	f    *os.File
	w    *bufio.Writer
	size uint64
	err  error
	buf  []byte
}

func newSpill() *spill {
	f, err := os.CreateTemp("", "selfevals-texts-*")
	if err != nil {
		return &spill{err: err}
	}
	s := &spill{f: f, w: bufio.NewWriterSize(f, 64<<10)}
	if os.Remove(f.Name()) != nil {
		// Where an open file cannot be removed, it goes with its spill.
		name := f.Name()
		runtime.AddCleanup(s, func(f *os.File) { f.Close(); os.Remove(name) }, f)
		return s
	}
	runtime.AddCleanup(s, func(f *os.File) { f.Close() }, f)
	return s
}

// append writes a text and returns its offset.
func (s *spill) append(t string) uint64 {
	off := s.size
	var hdr [binary.MaxVarintLen64]byte
	h := binary.PutUvarint(hdr[:], uint64(len(t)))
	s.w.Write(hdr[:h])
	s.w.WriteString(t)
	s.size += uint64(h + len(t))
	return off
}

func (s *spill) read(off uint64) (string, error) {
	if s == nil {
		return "", fmt.Errorf("reading a kept text: no text at %d", off)
	}
	if s.err != nil {
		return "", fmt.Errorf("reading a kept text: %w", s.err)
	}
	if s.w.Buffered() > 0 {
		if err := s.w.Flush(); err != nil {
			s.err = err
			return "", fmt.Errorf("keeping texts in a temporary file: %w", err)
		}
	}
	r := io.NewSectionReader(s.f, int64(off), int64(s.size-off))
	br := bufio.NewReaderSize(r, 256)
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return "", fmt.Errorf("reading a kept text: %w", err)
	}
	if cap(s.buf) < int(n) {
		s.buf = make([]byte, n)
	}
	b := s.buf[:n]
	if _, err := io.ReadFull(br, b); err != nil {
		return "", fmt.Errorf("reading a kept text: %w", err)
	}
	return string(b), nil
}
