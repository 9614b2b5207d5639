package runstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"

	"github.com/selfevals/selfevals/repo"
)

// results.idx says where each result is in results.jsonl, so a page reads
// the lines it shows instead of the whole file. It is a cache: built from
// results.jsonl on first use, trusted only while results.jsonl still starts
// with what was indexed (a live run's appended tail is read apart, and
// indexed once it grows), and rebuilt when it is stale or torn.
//
// Layout, little-endian:
//
//	header   indexHeaderSize bytes (see header)
//	records  n × recordSize, in file order: offset, length, iteration,
//	         repetition, label code, hashes of the trace and case IDs
//	byTrace  n × keySize: the trace hash's high half and the ordinal, sorted
//	byCase   n × keySize: the same of the case hash
//	byIter   n × 4: ordinals sorted by (iteration, ordinal)
//	iters    nIter × iterRowSize: iteration, start in byIter, count,
//	         count per label code
const (
	indexMagic      = "SEIDX\x00\x02\n"
	indexHeaderSize = 96
	recordSize      = 40
	keySize         = 8
	headBytes       = 4096 // hashed at the start of results.jsonl
	tailBytes       = 64   // hashed just before the indexed end
)

// indexLabels are the labels a record codes by position; any other label
// codes as len(indexLabels) and counts under otherLabel.
var indexLabels = []repo.Label{"", repo.Pass, repo.Skipped, repo.Partial, repo.Fail, repo.Error}

const otherLabel = "other"

var iterRowSize = 12 + 4*(len(indexLabels)+1)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// header is the index's first indexHeaderSize bytes.
type header struct {
	covered  int64  // bytes of results.jsonl indexed: just past its last complete line
	size     int64  // results.jsonl's size when indexed
	mtime    int64  // and its modification time (ns)
	n        uint64 // records
	nIter    uint64 // rows of the iteration table
	headHash uint64 // of results.jsonl's first headBytes (at most covered)
	tailHash uint64 // of the tailBytes before covered
	sum      uint32 // CRC-32C of everything after the header
}

func (h *header) encode() []byte {
	b := make([]byte, indexHeaderSize)
	copy(b, indexMagic)
	le := binary.LittleEndian
	le.PutUint64(b[8:], uint64(h.covered))
	le.PutUint64(b[16:], uint64(h.size))
	le.PutUint64(b[24:], uint64(h.mtime))
	le.PutUint64(b[32:], h.n)
	le.PutUint64(b[40:], h.nIter)
	le.PutUint64(b[48:], h.headHash)
	le.PutUint64(b[56:], h.tailHash)
	le.PutUint32(b[64:], h.sum)
	return b
}

func decodeHeader(b []byte) (header, bool) {
	if len(b) < indexHeaderSize || string(b[:8]) != indexMagic {
		return header{}, false
	}
	le := binary.LittleEndian
	h := header{covered: int64(le.Uint64(b[8:])), size: int64(le.Uint64(b[16:])), mtime: int64(le.Uint64(b[24:])),
		n: le.Uint64(b[32:]), nIter: le.Uint64(b[40:]), headHash: le.Uint64(b[48:]), tailHash: le.Uint64(b[56:]), sum: le.Uint32(b[64:])}
	return h, h.covered >= 0 && h.n < 1<<32 && h.nIter < 1<<32
}

// length is the file size the header implies.
func (h *header) length() int64 {
	return indexHeaderSize + int64(h.n)*(recordSize+2*keySize+4) + int64(h.nIter)*int64(iterRowSize)
}

// entry is one record.
type entry struct {
	off        int64
	n          uint32 // the line's length without its newline
	iteration  int32
	repetition int32
	label      uint8
	trace, cas uint64
}

func (e *entry) put(b []byte) {
	le := binary.LittleEndian
	le.PutUint64(b, uint64(e.off))
	le.PutUint32(b[8:], e.n)
	le.PutUint32(b[12:], uint32(e.iteration))
	le.PutUint32(b[16:], uint32(e.repetition))
	b[20], b[21], b[22], b[23] = e.label, 0, 0, 0
	le.PutUint64(b[24:], e.trace)
	le.PutUint64(b[32:], e.cas)
}

func getEntry(b []byte) entry {
	le := binary.LittleEndian
	return entry{off: int64(le.Uint64(b)), n: le.Uint32(b[8:]), iteration: int32(le.Uint32(b[12:])), repetition: int32(le.Uint32(b[16:])),
		label: b[20], trace: le.Uint64(b[24:]), cas: le.Uint64(b[32:])}
}

// idHash is FNV-1a, 64 bits: cheap, and a collision only costs reading a
// line that is then told apart by its ID.
func idHash(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

func labelCode(l repo.Label) uint8 {
	for i, x := range indexLabels {
		if x == l {
			return uint8(i)
		}
	}
	return uint8(len(indexLabels))
}

func labelName(code int) string {
	if code < len(indexLabels) {
		return string(indexLabels[code])
	}
	return otherLabel
}

// IterationCount is how many results an iteration has, by label.
type IterationCount struct {
	Iteration int
	Calls     int
	Labels    map[string]int
	start     uint32 // its first row in byIter
}

// ResultIndex reads a run's results.jsonl through results.idx. Reads are
// positioned (no shared offset), so one index serves concurrent requests.
type ResultIndex struct {
	results *os.File
	idx     *os.File
	path    string // results.jsonl
	h       header
	iters   []IterationCount
}

// indexLocks keeps two builders of one index in this process apart.
var indexLocks sync.Map // index path → *sync.Mutex

// verified holds the index files whose checksum was read in full, by
// path, while their size and modification time are unchanged: checking it
// costs a read of the whole index, once per version.
var verified sync.Map // index path → [2]int64{size, mtime}

// OpenResultIndex opens the run's results through its index, building the
// index first when it is missing, stale or torn, and extending it when a
// live run appended much since. What the index does not cover yet (the
// latest lines of a run in progress) is read with EachTail. A run without
// results.jsonl is an error wrapping fs.ErrNotExist. Close it after use.
func (r Run) OpenResultIndex() (*ResultIndex, error) {
	return openResultIndex(r.dir.Results(), indexPath(r.dir))
}

// indexPath is results.idx beside the run, or a file of the same name in
// the temporary directory when the run directory cannot be written (a
// read-only checkout is still served).
func indexPath(d repo.RunDir) string {
	p := d.ResultsIndex()
	if syscall.Access(d.Path(), 2 /* W_OK */) == nil {
		return p
	}
	abs, _ := filepath.Abs(p)
	return filepath.Join(os.TempDir(), "selfevals-"+strconv.FormatUint(idHash(abs), 16)+"-"+repo.ResultsIndexName)
}

func openResultIndex(resultsPath, idxPath string) (*ResultIndex, error) {
	mu, _ := indexLocks.LoadOrStore(idxPath, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()

	res, err := os.Open(resultsPath)
	if err != nil {
		return nil, err
	}
	ix, err := openIndexFile(res, resultsPath, idxPath)
	if err != nil {
		res.Close()
		return nil, err
	}
	return ix, nil
}

// openIndexFile uses the index at idxPath when it holds, else (re)builds it.
func openIndexFile(res *os.File, resultsPath, idxPath string) (*ResultIndex, error) {
	st, err := res.Stat()
	if err != nil {
		return nil, err
	}
	ix, ok := tryIndex(res, resultsPath, idxPath, st)
	if ok && !tailTooLong(ix.h.covered, st.Size()) {
		return ix, nil
	}
	var old *ResultIndex
	from := int64(0)
	if ok {
		// A live run appended much since: index the new lines after the
		// old ones instead of reading the whole file again.
		old, from = ix, ix.h.covered
		defer old.idx.Close()
	}
	if err := buildIndex(res, idxPath, st, old, from); err != nil {
		return nil, fmt.Errorf("indexing %s: %w", resultsPath, err)
	}
	ix, ok = tryIndex(res, resultsPath, idxPath, st)
	if !ok {
		return nil, fmt.Errorf("indexing %s: the index written at %s does not read back", resultsPath, idxPath)
	}
	return ix, nil
}

// tailTooLong says when the lines past the index are worth indexing: more
// than a few MiB, and more than a small part of what is indexed, so a live
// run's index is rewritten a logarithmic number of times.
func tailTooLong(covered, size int64) bool {
	tail := size - covered
	return tail > 4<<20 && tail > covered/16
}

// tryIndex opens the index at idxPath if it is whole and still describes
// the start of results.jsonl.
func tryIndex(res *os.File, resultsPath, idxPath string, st os.FileInfo) (*ResultIndex, bool) {
	f, err := os.Open(idxPath)
	if err != nil {
		return nil, false
	}
	ix, err := readIndex(f, res, resultsPath, st)
	if err != nil {
		f.Close()
		return nil, false
	}
	return ix, true
}

var errIndexStale = errors.New("stale index")

func readIndex(f, res *os.File, resultsPath string, st os.FileInfo) (*ResultIndex, error) {
	fst, err := f.Stat()
	if err != nil {
		return nil, err
	}
	b := make([]byte, indexHeaderSize)
	if _, err := f.ReadAt(b, 0); err != nil {
		return nil, err
	}
	h, ok := decodeHeader(b)
	if !ok || h.length() != fst.Size() || h.covered > st.Size() {
		return nil, errIndexStale // torn, another format, or results.jsonl was cut
	}
	if st.Size() != h.size || st.ModTime().UnixNano() != h.mtime {
		head, tail, err := prefixHashes(res, h.covered)
		if err != nil || head != h.headHash || tail != h.tailHash {
			return nil, errIndexStale // results.jsonl was rewritten
		}
	}
	if err := verifySum(f, fst, &h); err != nil {
		return nil, err
	}
	ix := &ResultIndex{results: res, idx: f, path: resultsPath, h: h}
	if ix.iters, err = ix.readIters(); err != nil {
		return nil, err
	}
	return ix, nil
}

// verifySum checks the index's checksum once per version of the file.
func verifySum(f *os.File, fst os.FileInfo, h *header) error {
	stamp := [2]int64{fst.Size(), fst.ModTime().UnixNano()}
	if v, ok := verified.Load(f.Name()); ok && v.([2]int64) == stamp {
		return nil
	}
	crc := crc32.New(castagnoli)
	if _, err := io.Copy(crc, io.NewSectionReader(f, indexHeaderSize, fst.Size()-indexHeaderSize)); err != nil {
		return err
	}
	if crc.Sum32() != h.sum {
		return errIndexStale
	}
	verified.Store(f.Name(), stamp)
	return nil
}

// prefixHashes hash the start of results.jsonl and the bytes just before
// end: a file rewritten since (another run's, a cut and a resume) differs
// there.
func prefixHashes(f *os.File, end int64) (head, tail uint64, err error) {
	hb := make([]byte, min(end, headBytes))
	if _, err := f.ReadAt(hb, 0); err != nil {
		return 0, 0, err
	}
	n := min(end, tailBytes)
	tb := make([]byte, n)
	if _, err := f.ReadAt(tb, end-n); err != nil {
		return 0, 0, err
	}
	return idHash(string(hb)), idHash(string(tb)), nil
}

// Section offsets.
func (ix *ResultIndex) recordsAt() int64 { return indexHeaderSize }
func (ix *ResultIndex) traceAt() int64   { return ix.recordsAt() + int64(ix.h.n)*recordSize }
func (ix *ResultIndex) caseAt() int64    { return ix.traceAt() + int64(ix.h.n)*keySize }
func (ix *ResultIndex) orderAt() int64   { return ix.caseAt() + int64(ix.h.n)*keySize }
func (ix *ResultIndex) itersAt() int64   { return ix.orderAt() + int64(ix.h.n)*4 }

func (ix *ResultIndex) readIters() ([]IterationCount, error) {
	b := make([]byte, int(ix.h.nIter)*iterRowSize)
	if _, err := ix.idx.ReadAt(b, ix.itersAt()); err != nil && len(b) > 0 {
		return nil, err
	}
	le := binary.LittleEndian
	out := make([]IterationCount, ix.h.nIter)
	for i := range out {
		row := b[i*iterRowSize:]
		c := IterationCount{Iteration: int(int32(le.Uint32(row))), start: le.Uint32(row[4:]), Calls: int(le.Uint32(row[8:])), Labels: map[string]int{}}
		for code := range len(indexLabels) + 1 {
			if n := int(le.Uint32(row[12+4*code:])); n > 0 {
				c.Labels[labelName(code)] = n
			}
		}
		out[i] = c
	}
	return out, nil
}

// Close closes the index and results.jsonl.
func (ix *ResultIndex) Close() error { return errors.Join(ix.idx.Close(), ix.results.Close()) }

// Len is the number of results indexed.
func (ix *ResultIndex) Len() int { return int(ix.h.n) }

// Covered is how much of results.jsonl is indexed; EachTail reads the rest.
func (ix *ResultIndex) Covered() int64 { return ix.h.covered }

// Iterations are the indexed results' counts by iteration, in order.
func (ix *ResultIndex) Iterations() []IterationCount { return ix.iters }

// Iteration is one iteration's counts (zero when it has no results).
func (ix *ResultIndex) Iteration(it int) IterationCount {
	for _, c := range ix.iters {
		if c.Iteration == it {
			return c
		}
	}
	return IterationCount{Iteration: it, Labels: map[string]int{}}
}

// EachTail streams the complete results appended past the index, leniently
// (a damaged line is skipped), and returns the offset just past the last.
func (ix *ResultIndex) EachTail(fn func(*repo.Result) error) (int64, error) {
	rr := ResultsReader{Path: ix.path, Offset: ix.h.covered, Lenient: true}
	err := rr.Each(fn)
	return rr.Offset, err
}

func (ix *ResultIndex) entry(ord int) (entry, error) {
	if ord < 0 || ord >= ix.Len() {
		return entry{}, fmt.Errorf("result %d is out of range (%d indexed)", ord, ix.Len())
	}
	b := make([]byte, recordSize)
	if _, err := ix.idx.ReadAt(b, ix.recordsAt()+int64(ord)*recordSize); err != nil {
		return entry{}, err
	}
	return getEntry(b), nil
}

// At reads the result at ordinal ord (file order). A line that no longer
// decodes is an error naming its byte.
func (ix *ResultIndex) At(ord int) (*repo.Result, error) {
	e, err := ix.entry(ord)
	if err != nil {
		return nil, err
	}
	return ix.read(e)
}

func (ix *ResultIndex) read(e entry) (*repo.Result, error) {
	b := make([]byte, e.n)
	if _, err := ix.results.ReadAt(b, e.off); err != nil {
		return nil, fmt.Errorf("%s: line at byte %d: %w", ix.path, e.off, err)
	}
	var res repo.Result
	err := repo.DecodeJSON(b, &res)
	if err == nil {
		err = res.Trace.Check()
	}
	if err != nil {
		return nil, fmt.Errorf("%s: line at byte %d: %w", ix.path, e.off, err)
	}
	return &res, nil
}

// InIteration is the ordinal of the k-th result (file order) of iteration
// it, or -1 when it has fewer.
func (ix *ResultIndex) InIteration(it, k int) (int, error) {
	c := ix.Iteration(it)
	if k < 0 || k >= c.Calls {
		return -1, nil
	}
	b := make([]byte, 4)
	if _, err := ix.idx.ReadAt(b, ix.orderAt()+4*int64(int(c.start)+k)); err != nil {
		return -1, err
	}
	return int(binary.LittleEndian.Uint32(b)), nil
}

// ByTrace finds the result with trace ID id; nil when none is indexed.
func (ix *ResultIndex) ByTrace(id string) (*repo.Result, error) {
	var found *repo.Result
	h := idHash(id)
	err := ix.lookup(ix.traceAt(), h, func(e entry) bool { return e.trace == h }, func(_ int, r *repo.Result) bool {
		if r.ID == id {
			found = r
			return false
		}
		return true
	})
	return found, err
}

// ByCase streams the results of case caseID in file order, each with its
// ordinal, until fn returns false.
func (ix *ResultIndex) ByCase(caseID string, fn func(ord int, r *repo.Result) bool) error {
	h := idHash(caseID)
	return ix.lookup(ix.caseAt(), h, func(e entry) bool { return e.cas == h }, func(ord int, r *repo.Result) bool {
		if r.CaseID != caseID {
			return true // another case with the same hash
		}
		return fn(ord, r)
	})
}

// lookup binary-searches a table of keys for hash's high half and reads
// each result it lists whose record has the whole hash (match). Lines that
// no longer decode are skipped.
func (ix *ResultIndex) lookup(table int64, hash uint64, match func(entry) bool, fn func(int, *repo.Result) bool) error {
	n := ix.Len()
	buf := make([]byte, keySize)
	var rerr error
	keyAt := func(i int) uint64 {
		if _, err := ix.idx.ReadAt(buf, table+int64(i)*keySize); err != nil {
			rerr = err
			return ^uint64(0)
		}
		return binary.LittleEndian.Uint64(buf)
	}
	high := hash >> 32
	i := sort.Search(n, func(i int) bool { return keyAt(i)>>32 >= high })
	for ; i < n && rerr == nil; i++ {
		k := keyAt(i)
		if k>>32 != high {
			break
		}
		ord := int(uint32(k))
		e, err := ix.entry(ord)
		if err != nil {
			return err
		}
		if !match(e) {
			continue
		}
		r, err := ix.read(e)
		if err != nil {
			continue
		}
		if !fn(ord, r) {
			return nil
		}
	}
	return rerr
}
