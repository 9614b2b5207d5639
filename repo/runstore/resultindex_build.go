package runstore

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/selfevals/selfevals/repo"
)

// Building results.idx: records are written to the file as lines are read;
// what the lookup tables need is kept to be sorted at the end, 20 bytes a
// result (a 2,000,000-result run's index is built in about 40 MB).

// indexLine is what the index keeps of a result line.
type indexLine struct {
	ID         string     `json:"trace_id"`
	CaseID     string     `json:"case_id"`
	Iteration  int        `json:"iteration"`
	Repetition int        `json:"repetition"`
	Label      repo.Label `json:"label"`
}

// scanIndexLine reads what the index keeps from a line as the results
// writer lays it out (trace_id, case_id, params_id, iteration, repetition
// first; label and score last), without decoding the rest: building the
// index then costs little more than reading the file. Anything else (an
// escape in an ID, another field order) is left to the JSON decoder.
func scanIndexLine(b []byte) (e entry, ok bool) {
	var it, rep int
	var id, cas, lab []byte
	rest, ok := bytes.CutPrefix(b, []byte(`{"trace_id":"`))
	if ok {
		id, rest, ok = plainString(rest)
	}
	if ok {
		rest, ok = bytes.CutPrefix(rest, []byte(`,"case_id":"`))
	}
	if ok {
		cas, rest, ok = plainString(rest)
	}
	if ok {
		rest, ok = bytes.CutPrefix(rest, []byte(`,"params_id":"`))
	}
	if ok {
		_, rest, ok = plainString(rest)
	}
	if ok {
		it, rest, ok = intField(rest, `,"iteration":`)
	}
	if ok {
		rep, _, ok = intField(rest, `,"repetition":`)
	}
	// The top-level label is the last one: grades, which hold labels too,
	// come before it, and a quote inside a string is escaped.
	at := bytes.LastIndex(b, []byte(`,"label":"`))
	if !ok || at < 0 {
		return entry{}, false
	}
	if lab, rest, ok = plainString(b[at+len(`,"label":"`):]); !ok || !bytes.HasPrefix(rest, []byte(`,"score":`)) {
		return entry{}, false
	}
	return entry{iteration: int32(it), repetition: int32(rep), label: labelCode(repo.Label(lab)), trace: idHash(string(id)), cas: idHash(string(cas))}, true
}

// plainString cuts a JSON string's body up to its closing quote; ok is
// false when it has an escape.
func plainString(b []byte) (s, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '"')
	if i < 0 || bytes.IndexByte(b[:i], '\\') >= 0 {
		return nil, nil, false
	}
	return b[:i], b[i+1:], true
}

// intField reads `name` followed by a non-negative integer.
func intField(b []byte, name string) (int, []byte, bool) {
	rest, ok := bytes.CutPrefix(b, []byte(name))
	n, i := 0, 0
	for ; ok && i < len(rest) && i < 10 && rest[i] >= '0' && rest[i] <= '9'; i++ {
		n = n*10 + int(rest[i]-'0')
	}
	if !ok || i == 0 || i == len(rest) || (rest[i] != ',' && rest[i] != '}') {
		return 0, nil, false
	}
	return n, rest[i:], true
}

// buildIndex indexes results.jsonl (as it was at st) from byte from on,
// after the records of old (the index of what is before from; nil to start
// afresh), and writes the index atomically. Lines that do not decode are
// left out, as lenient readers skip them.
func buildIndex(res *os.File, idxPath string, st os.FileInfo, old *ResultIndex, from int64) error {
	tmp, err := os.CreateTemp(filepath.Dir(idxPath), repo.TempPattern(idxPath))
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	defer tmp.Close()
	n := expectedLines(res, from, st.Size())
	b := &indexBuilder{crc: crc32.New(castagnoli), counts: map[int32]*IterationCount{}}
	if old != nil {
		n += old.Len()
	}
	b.traces, b.cases, b.iters = make([]uint64, 0, n), make([]uint64, 0, n), make([]int32, 0, n)
	b.w = bufio.NewWriterSize(io.MultiWriter(tmp, b.crc), 256<<10)
	if _, err := tmp.Write(make([]byte, indexHeaderSize)); err != nil {
		return err
	}
	if old != nil {
		if err := b.addRecords(old); err != nil {
			return err
		}
	}
	covered, err := b.addLines(res, from, st.Size())
	if err != nil {
		return err
	}
	h := header{covered: covered, size: st.Size(), mtime: st.ModTime().UnixNano(), n: uint64(len(b.iters))}
	if h.headHash, h.tailHash, err = prefixHashes(res, covered); err != nil {
		return err
	}
	h.nIter = uint64(b.finish())
	if err := b.w.Flush(); err != nil {
		return err
	}
	h.sum = b.crc.Sum32()
	if _, err := tmp.WriteAt(h.encode(), 0); err != nil {
		return err
	}
	// Not synced: a torn index after a crash fails its checksum and is
	// built again.
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), idxPath); err != nil {
		return err
	}
	if fst, err := os.Stat(idxPath); err == nil {
		verified.Store(idxPath, [2]int64{fst.Size(), fst.ModTime().UnixNano()}) // its sum was just computed
	}
	return nil
}

// indexBuilder writes records as they come and keeps the lookup keys.
type indexBuilder struct {
	w      *bufio.Writer // write errors stay in it (bufio keeps the first)
	crc    hash32
	buf    [recordSize]byte
	traces []uint64 // high half of the trace ID's hash, then the ordinal
	cases  []uint64 // the same of the case ID
	iters  []int32  // each result's iteration
	counts map[int32]*IterationCount
}

type hash32 interface {
	io.Writer
	Sum32() uint32
}

// key packs the high half of a hash and an ordinal, so sorting the keys
// sorts by hash and then by file order. Equal halves are told apart by the
// record's whole hash, then the line's ID.
func key(hash uint64, ord int) uint64 { return hash>>32<<32 | uint64(uint32(ord)) }

func (b *indexBuilder) add(e entry) {
	ord := len(b.iters)
	e.put(b.buf[:])
	b.w.Write(b.buf[:])
	b.traces = append(b.traces, key(e.trace, ord))
	b.cases = append(b.cases, key(e.cas, ord))
	b.iters = append(b.iters, e.iteration)
	c := b.counts[e.iteration]
	if c == nil {
		c = &IterationCount{Iteration: int(e.iteration), Labels: map[string]int{}}
		b.counts[e.iteration] = c
	}
	c.Calls++
	c.Labels[labelName(int(e.label))]++
}

// addRecords copies an index's records (to extend it).
func (b *indexBuilder) addRecords(ix *ResultIndex) error {
	r := bufio.NewReaderSize(io.NewSectionReader(ix.idx, ix.recordsAt(), int64(ix.h.n)*recordSize), 256<<10)
	buf := make([]byte, recordSize)
	for range ix.h.n {
		if _, err := io.ReadFull(r, buf); err != nil {
			return err
		}
		b.add(getEntry(buf))
	}
	return nil
}

// addLines indexes the complete lines of [from, end) and returns the
// offset just past the last.
func (b *indexBuilder) addLines(res *os.File, from, end int64) (int64, error) {
	covered := from
	err := repo.EachLineUpTo(io.NewSectionReader(res, from, end-from), repo.MaxRecordLine, func(line []byte, _ int, off int64, complete bool) error {
		if !complete {
			return nil
		}
		covered = from + off + int64(len(line)) + 1
		body := bytes.TrimSpace(line)
		e, ok := scanIndexLine(body)
		if !ok {
			var il indexLine
			if len(body) == 0 || repo.DecodeJSON(body, &il) != nil {
				return nil
			}
			e = entry{iteration: int32(il.Iteration), repetition: int32(il.Repetition), label: labelCode(il.Label), trace: idHash(il.ID), cas: idHash(il.CaseID)}
		}
		e.off = from + off + int64(len(line)-len(bytes.TrimLeft(line, " \t\r\n")))
		e.n = uint32(len(body))
		b.add(e)
		return nil
	})
	return covered, err
}

// finish writes the lookup tables, the iteration order and the iteration
// table; it returns the table's rows.
func (b *indexBuilder) finish() int {
	le := binary.LittleEndian
	for _, keys := range [][]uint64{b.traces, b.cases} {
		slices.Sort(keys)
		for _, k := range keys {
			b.w.Write(le.AppendUint64(b.buf[:0], k))
		}
	}
	b.traces, b.cases = nil, nil
	iters := make([]IterationCount, 0, len(b.counts))
	for _, c := range b.counts {
		iters = append(iters, *c)
	}
	slices.SortFunc(iters, func(x, y IterationCount) int { return x.Iteration - y.Iteration })
	next := make(map[int32]uint32, len(iters))
	start := uint32(0)
	for i := range iters {
		iters[i].start = start
		next[int32(iters[i].Iteration)] = start
		start += uint32(iters[i].Calls)
	}
	order := make([]uint32, len(b.iters))
	for ord, it := range b.iters {
		order[next[it]] = uint32(ord)
		next[it]++
	}
	for _, o := range order {
		b.w.Write(le.AppendUint32(b.buf[:0], o))
	}
	for _, it := range iters {
		row := le.AppendUint32(b.buf[:0], uint32(int32(it.Iteration)))
		row = le.AppendUint32(row, it.start)
		row = le.AppendUint32(row, uint32(it.Calls))
		for code := range len(indexLabels) + 1 {
			row = le.AppendUint32(row, uint32(it.Labels[labelName(code)]))
		}
		b.w.Write(row)
	}
	return len(iters)
}

// expectedLines guesses how many lines [from, end) of f holds from the
// lines in its first 64 KiB, with a margin, so the keys are sized once for
// a file of lines alike (as a run's are).
func expectedLines(f *os.File, from, end int64) int {
	buf := make([]byte, min(end-from, 64<<10))
	n, _ := f.ReadAt(buf, from)
	lines := bytes.Count(buf[:n], []byte{'\n'})
	if lines == 0 || n == 0 {
		return 1024
	}
	return int(float64(end-from)/float64(n)*float64(lines)*1.1) + 1024
}
