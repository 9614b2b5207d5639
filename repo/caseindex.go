package repo

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"hash/maphash"
	"math/bits"
	"slices"
	"strings"
	"unsafe"

	"github.com/selfevals/selfevals/repo/internal/canonical"
)

// CaseIndex is a dataset's case IDs held compactly: sorted, back to back
// in one string, with where each ends, and a hash table from an ID to its
// rank (its place in case ID order). A million IDs of 8 bytes take about
// 20 MB and no pointer per case, where a map of strings took 80 MB and a
// collector's walk over a million objects. Ranks are the dense ordinals
// per-case state is indexed by.
type CaseIndex struct {
	ids  string   // every ID, in case ID order, back to back
	ends []uint32 // ends[r]: where the ID of rank r ends in ids
	// slots is an open-addressing table of rank+1 (0: empty), keyed by
	// the ID's hash; a lookup compares the ID itself, so it is exact.
	slots []uint32
	seed  maphash.Seed
	// rankOf maps a case's place in the file to its rank; nil when the
	// file lists its cases in ID order (the rank is then the place).
	rankOf []uint32
}

// Len is the number of cases.
func (x *CaseIndex) Len() int { return len(x.ends) }

// ID is the ID of the case of rank r (0 ≤ r < Len): a slice of the
// index's string, so it allocates nothing.
func (x *CaseIndex) ID(r int) string {
	start := uint32(0)
	if r > 0 {
		start = x.ends[r-1]
	}
	return x.ids[start:x.ends[r]]
}

// Rank is the place of id in case ID order, when the dataset has it.
func (x *CaseIndex) Rank(id string) (int, bool) {
	if x == nil || len(x.slots) == 0 {
		return 0, false
	}
	mask := uint64(len(x.slots) - 1)
	for i := maphash.String(x.seed, id) & mask; ; i = (i + 1) & mask {
		s := x.slots[i]
		if s == 0 {
			return 0, false
		}
		if x.ID(int(s-1)) == id {
			return int(s - 1), true
		}
	}
}

// RankAt is the rank of the case at place i of the file (0-based, among
// the cases).
func (x *CaseIndex) RankAt(i int) int {
	if x.rankOf == nil {
		return i
	}
	return int(x.rankOf[i])
}

// InFileOrder reports whether the file lists its cases in ID order.
func (x *CaseIndex) InFileOrder() bool { return x.rankOf == nil }

// idCollector gathers the IDs of a dataset's valid cases, in file order,
// while it is validated: bytes back to back, no string per case.
type idCollector struct {
	buf   []byte
	ends  []uint32
	lines []uint32 // each case's line, for the duplicate check's message
}

func (c *idCollector) add(id string, line int) {
	c.buf = append(c.buf, id...)
	c.ends = append(c.ends, uint32(len(c.buf)))
	c.lines = append(c.lines, uint32(line))
}

func (c *idCollector) id(i int) string {
	start := uint32(0)
	if i > 0 {
		start = c.ends[i-1]
	}
	b := c.buf[start:c.ends[i]]
	// The bytes are not written again once collected.
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// duplicate is a case whose ID an earlier case of the file already has.
type duplicate struct {
	id          string
	line, first int
}

// build sorts the IDs into an index. Cases with the same ID are
// duplicates: the first in the file is kept, every later one is returned
// (the dataset is then refused).
func (c *idCollector) build() (*CaseIndex, []duplicate) {
	n := len(c.ends)
	order := make([]uint32, n)
	for i := range order {
		order[i] = uint32(i)
	}
	inOrder := true
	for i := 1; i < n && inOrder; i++ {
		inOrder = c.id(i-1) < c.id(i)
	}
	if !inOrder {
		// By ID, then by place: the first of equal IDs is the one the
		// file gave first.
		slices.SortFunc(order, func(a, b uint32) int {
			if d := strings.Compare(c.id(int(a)), c.id(int(b))); d != 0 {
				return d
			}
			return int(a) - int(b)
		})
	}
	var dups []duplicate
	x := &CaseIndex{seed: maphash.MakeSeed()}
	ids := make([]byte, 0, len(c.buf))
	x.ends = make([]uint32, 0, n)
	first := uint32(0) // the first case of the current run of equal IDs
	for k, i := range order {
		id := c.id(int(i))
		if k > 0 && c.id(int(order[k-1])) == id {
			dups = append(dups, duplicate{id: id, line: int(c.lines[i]), first: int(c.lines[first])})
			continue
		}
		first = i
		ids = append(ids, id...)
		x.ends = append(x.ends, uint32(len(ids)))
	}
	if len(dups) > 0 {
		slices.SortFunc(dups, func(a, b duplicate) int { return a.line - b.line })
		return nil, dups
	}
	x.ids = string(ids)
	if !inOrder {
		x.rankOf = make([]uint32, n)
		for r, i := range order {
			x.rankOf[i] = uint32(r)
		}
	}
	x.fill()
	return x, nil
}

// fill builds the hash table, at most half full.
func (x *CaseIndex) fill() {
	size := 1 << bits.Len(uint(2*len(x.ends)))
	x.slots = make([]uint32, size)
	mask := uint64(size - 1)
	for r := range x.ends {
		i := maphash.String(x.seed, x.ID(r)) & mask
		for x.slots[i] != 0 {
			i = (i + 1) & mask
		}
		x.slots[i] = uint32(r + 1)
	}
}

// newCaseIndex indexes IDs given in any order, for inline cases; ok is
// false when two are the same.
func newCaseIndex(ids []string) (*CaseIndex, bool) {
	var c idCollector
	for i, id := range ids {
		c.add(id, i+1)
	}
	x, dups := c.build()
	return x, len(dups) == 0
}

// datasetID is the dataset's ID from its index: the hash of the canonical
// JSON of its sorted IDs, streamed into the hash rather than built in
// memory.
func (x *CaseIndex) datasetID() string {
	h := sha256.New()
	var buf bytes.Buffer
	buf.WriteByte('[')
	for r := range x.ends {
		if r > 0 {
			buf.WriteByte(',')
		}
		canonical.WriteString(&buf, x.ID(r))
		if buf.Len() >= 32<<10 {
			h.Write(buf.Bytes())
			buf.Reset()
		}
	}
	buf.WriteByte(']')
	h.Write(buf.Bytes())
	return hashSumID("ds", h.Sum(nil))
}

// hashSumID formats a SHA-256 sum as HashBytesID does.
func hashSumID(prefix string, sum []byte) string {
	var b [32]byte
	id := append(b[:0], prefix...)
	id = append(id, '_')
	id = hex.AppendEncode(id, sum[:8])
	return string(id)
}
