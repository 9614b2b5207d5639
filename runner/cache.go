package runner

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/goccy/go-json"
	"github.com/selfevals/selfevals/repo"
)

// Cache serves repeated agent calls from evals/.cache/. A call is
// keyed by (case ID, parameters ID, agent fingerprint, repetition); only
// calls that succeeded are stored, and only the response, never the request
// (whose headers and environment may carry secrets).
//
// Layout: <dir>/<agent fingerprint>/<params ID>/seg-<n>.jsonl, append-only
// JSON lines. Each process appends to a segment it holds an exclusive flock
// on, so concurrent runs never interleave bytes, whatever the line size;
// segments are reused once their writer has gone. Readers take no lock: they
// index only complete lines, so a torn last line (a crash, or a writer in
// another process mid-line) is ignored. A segment's index (key → offset) is
// built the first time a parameters ID is looked up; responses stay on disk.
type Cache struct {
	dir string // <root>/<fingerprint>

	mu      sync.Mutex
	params  map[string]*cacheParams
	failure error // set when writing failed; the cache then stops storing
}

// cacheParams is the cache of one parameters ID.
type cacheParams struct {
	index    map[uint64]cacheLoc // cacheKey(caseID, rep) → where its line is
	segments []*os.File          // open for reading; index refers by position
	w        *os.File            // our segment, flocked; nil until first Put
	wseg     int                 // its position in segments
	buf      *bufio.Writer
	size     int64 // bytes written to w, flushed or not
	flushed  int64
}

// cacheLoc is where a stored call's line is: 16 bytes an entry.
type cacheLoc struct {
	off         int64
	seg, length int32
}

// cacheLine is one stored call. case_id and repetition come first so the
// index can be built without decoding responses.
type cacheLine struct {
	CaseID     string        `json:"case_id"`
	Repetition int           `json:"repetition"`
	LatencyMS  float64       `json:"latency_ms"`
	Response   repo.Response `json:"response"`
}

// cacheLinePool keeps the value being encoded on the heap: go-json hides
// its argument from escape analysis, and a stack value trips the race
// detector's pointer checks (checkptr) inside go-json.
var cacheLinePool = sync.Pool{New: func() any { return new(cacheLine) }}

// cacheKeyLine is the part of a line the index needs.
type cacheKeyLine struct {
	CaseID     string `json:"case_id"`
	Repetition *int   `json:"repetition"`
}

// OpenCache opens the cache of one agent version under dir (evals/.cache).
func OpenCache(dir, agentFingerprint string) (*Cache, error) {
	if agentFingerprint == "" {
		return nil, errors.New("cache: empty agent fingerprint")
	}
	d := filepath.Join(dir, agentFingerprint)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	return &Cache{dir: d, params: map[string]*cacheParams{}}, nil
}

// cacheKey is a call's key in the index: a hash, not a string per call,
// so a million-call run's index holds no case IDs. Two calls whose keys
// collide share an entry; Get reads the case ID and repetition back from
// the line, so the one overwritten is a miss, never a wrong answer.
func cacheKey(caseID string, rep int) uint64 {
	return maphash.String(cacheSeed, caseID) ^ (uint64(rep)+1)*0x9e3779b97f4a7c15
}

// cacheSeed seeds cacheKey: the index lives only in this process.
var cacheSeed = maphash.MakeSeed()

// Get returns the stored response of a call and its latency.
func (c *Cache) Get(caseID, paramsID string, rep int) (repo.Response, float64, bool) {
	c.mu.Lock()
	p, err := c.load(paramsID)
	if err != nil {
		c.mu.Unlock()
		return repo.Response{}, 0, false
	}
	loc, ok := p.index[cacheKey(caseID, rep)]
	if ok && int(loc.seg) == p.wseg && p.w != nil && loc.off+int64(loc.length) > p.flushed {
		// Our own line, still in the buffer.
		if p.buf.Flush() == nil {
			p.flushed = p.size
		}
	}
	var f *os.File
	if ok {
		f = p.segments[loc.seg]
	}
	c.mu.Unlock()
	if !ok {
		return repo.Response{}, 0, false
	}
	line := make([]byte, loc.length)
	if _, err := f.ReadAt(line, loc.off); err != nil {
		return repo.Response{}, 0, false
	}
	var cl cacheLine
	if err := repo.DecodeJSON(line, &cl); err != nil || cl.CaseID != caseID || cl.Repetition != rep {
		return repo.Response{}, 0, false
	}
	return cl.Response, cl.LatencyMS, true
}

// Put stores a successful call.
func (c *Cache) Put(caseID, paramsID string, rep int, resp *repo.Response, latencyMS float64) error {
	cl := cacheLinePool.Get().(*cacheLine)
	*cl = cacheLine{CaseID: caseID, Repetition: rep, LatencyMS: latencyMS, Response: *resp}
	line, err := json.MarshalNoEscape(cl)
	*cl = cacheLine{}
	cacheLinePool.Put(cl)
	if err != nil {
		return fmt.Errorf("cache: encode response: %w", err)
	}
	line = append(line, '\n')
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failure != nil {
		return nil
	}
	p, err := c.load(paramsID)
	if err != nil {
		return err
	}
	if p.w == nil {
		if err := c.openWriter(paramsID, p); err != nil {
			return err
		}
	}
	if _, err := p.buf.Write(line); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	p.index[cacheKey(caseID, rep)] = cacheLoc{seg: int32(p.wseg), off: p.size, length: int32(len(line) - 1)}
	p.size += int64(len(line))
	return nil
}

// disable stops storing after a write failure; lookups go on.
func (c *Cache) disable(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failure == nil {
		c.failure = err
	}
}

// Err is the write failure that disabled storing, if any.
func (c *Cache) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failure
}

// Flush writes buffered entries to their segments.
func (c *Cache) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, p := range c.params {
		if p.buf != nil {
			if err := p.buf.Flush(); err != nil {
				errs = append(errs, err)
			} else {
				p.flushed = p.size
			}
		}
	}
	return errors.Join(errs...)
}

// Close flushes, syncs and releases the segments (and their locks).
func (c *Cache) Close() error {
	err := c.Flush()
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	for _, p := range c.params {
		if p.w != nil {
			if err := p.w.Sync(); err != nil {
				errs = append(errs, err)
			}
		}
		for _, f := range p.segments {
			f.Close()
		}
		if p.w != nil {
			p.w.Close()
		}
	}
	c.params = map[string]*cacheParams{}
	return errors.Join(errs...)
}

// load indexes the segments of a parameters ID (once). Callers hold c.mu.
func (c *Cache) load(paramsID string) (*cacheParams, error) {
	if p, ok := c.params[paramsID]; ok {
		return p, nil
	}
	p := &cacheParams{index: map[uint64]cacheLoc{}, wseg: -1}
	c.params[paramsID] = p
	names, _ := filepath.Glob(filepath.Join(c.dir, paramsID, "seg-*.jsonl"))
	for _, name := range names {
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		seg := len(p.segments)
		p.segments = append(p.segments, f)
		indexSegment(f, seg, p.index)
	}
	return p, nil
}

// indexSegment records every complete, well-formed line of a segment.
// Later lines win, so a re-stored call replaces the older answer.
func indexSegment(f *os.File, seg int, index map[uint64]cacheLoc) {
	// A last line without a newline is torn (or still being written): it
	// is not indexed.
	repo.EachLineUpTo(f, repo.MaxRecordLine, func(body []byte, _ int, off int64, complete bool) error {
		var k cacheKeyLine
		if complete && repo.DecodeJSON(body, &k) == nil && k.CaseID != "" && k.Repetition != nil {
			index[cacheKey(k.CaseID, *k.Repetition)] = cacheLoc{seg: int32(seg), off: off, length: int32(len(body))}
		}
		return nil
	})
}

// openWriter takes the first segment no other process holds, creating one
// when all are taken. Callers hold c.mu.
func (c *Cache) openWriter(paramsID string, p *cacheParams) error {
	dir := filepath.Join(c.dir, paramsID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	for n := 0; n < 1024; n++ {
		name := filepath.Join(dir, fmt.Sprintf("seg-%d.jsonl", n))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("cache: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				continue
			}
			return fmt.Errorf("cache: lock %s: %w", name, err)
		}
		size, err := endOnLineBoundary(f)
		if err != nil {
			f.Close()
			return fmt.Errorf("cache: %s: %w", name, err)
		}
		// The reading handle for this segment must see what we append;
		// index it afresh if we did not have it (a new file).
		seg := -1
		for i, rf := range p.segments {
			if filepath.Base(rf.Name()) == filepath.Base(name) {
				seg = i
			}
		}
		if seg < 0 {
			rf, err := os.Open(name)
			if err != nil {
				f.Close()
				return fmt.Errorf("cache: %w", err)
			}
			seg = len(p.segments)
			p.segments = append(p.segments, rf)
			indexSegment(rf, seg, p.index)
		}
		p.w, p.wseg, p.size, p.flushed = f, seg, size, size
		p.buf = bufio.NewWriterSize(f, 64<<10)
		return nil
	}
	return errors.New("cache: every segment is locked by another process")
}

// endOnLineBoundary ends a torn last line (a crashed writer) with a newline,
// so what we append starts on a line of its own; the torn fragment is one
// malformed line that readers skip. It returns the file's size.
func endOnLineBoundary(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	if size == 0 {
		return 0, nil
	}
	last := make([]byte, 1)
	if _, err := f.ReadAt(last, size-1); err != nil && err != io.EOF {
		return 0, err
	}
	if !bytes.Equal(last, []byte{'\n'}) {
		if _, err := f.Write([]byte{'\n'}); err != nil {
			return 0, err
		}
		size++
	}
	return size, nil
}
