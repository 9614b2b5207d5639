package runstore

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/selfevals/selfevals/repo"

	"github.com/selfevals/selfevals/repo/internal/fault"
)

// flushEvery bounds how stale results.jsonl may be on disk while a run is in
// progress (for `serve`, which follows runs in other processes, and for what
// survives a crash).
const flushEvery = 200 * time.Millisecond

// ResultWriter appends results as JSON lines (a run's results.jsonl). Lines
// go through a buffer that is flushed and synced every 200 ms and on Close,
// so writing a result costs no system call.
type ResultWriter struct {
	mu     sync.Mutex
	f      *os.File
	w      *bufio.Writer
	line   []byte // reused for each encoded result
	err    error
	lines  int // written since the file was opened
	stop   chan struct{}
	done   chan struct{}
	closed bool
}

// OpenResultWriterAt opens path for appending, creating it if needed. A torn
// last line left by a crash is cut off first, so the file stays one record a
// line (a resumed run appends after the last complete result).
func OpenResultWriterAt(path string) (*ResultWriter, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	end, err := completeLinesEnd(f)
	if err == nil {
		err = f.Truncate(end)
	}
	if err == nil {
		_, err = f.Seek(end, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	rw := &ResultWriter{f: f, w: bufio.NewWriterSize(f, 256<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go rw.flushLoop()
	return rw, nil
}

// completeLinesEnd is the offset just past the last newline of f.
func completeLinesEnd(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	end := st.Size()
	buf := make([]byte, 64<<10)
	for end > 0 {
		n := int64(len(buf))
		if n > end {
			n = end
		}
		if _, err := f.ReadAt(buf[:n], end-n); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return end - n + int64(i) + 1, nil
		}
		end -= n
	}
	return 0, nil
}

// Write appends one result. Safe for concurrent use, though the executor's
// sink calls it from one goroutine.
func (rw *ResultWriter) Write(r *repo.Result) error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if rw.err != nil {
		return rw.err
	}
	if rw.closed {
		return errors.New("results writer is closed")
	}
	line, err := r.AppendJSON(rw.line[:0]) // the line ends with its newline
	if err == nil {
		err = fault.Point("write results.jsonl")
	}
	if err == nil {
		_, err = rw.w.Write(line)
		rw.lines++
	}
	if err != nil {
		rw.err = fmt.Errorf("writing %s: %w", rw.f.Name(), err)
	}
	// Keep the buffer for the next line, unless one huge output grew it.
	if cap(line) <= maxKeptLine {
		rw.line = line
	}
	return rw.err
}

// maxKeptLine bounds the buffer a ResultWriter keeps between lines.
const maxKeptLine = 1 << 20

func (rw *ResultWriter) flushLoop() {
	defer close(rw.done)
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	synced := 0 // rw.lines at the last sync
	for {
		select {
		case <-rw.stop:
			return
		case <-t.C:
			rw.mu.Lock()
			if rw.err == nil && rw.w.Buffered() > 0 {
				if err := rw.w.Flush(); err != nil {
					rw.err = fmt.Errorf("writing %s: %w", rw.f.Name(), err)
				}
			}
			sync := rw.err == nil && rw.lines != synced
			synced = rw.lines
			rw.mu.Unlock()
			if sync {
				// Sync as the run goes (writes go on meanwhile): Close
				// then has only the tail to wait for, not megabytes.
				if err := rw.f.Sync(); err != nil {
					rw.mu.Lock()
					rw.err = cmp.Or(rw.err, fmt.Errorf("syncing %s: %w", rw.f.Name(), err))
					rw.mu.Unlock()
				}
			}
		}
	}
}

// Flush writes buffered results to the file.
func (rw *ResultWriter) Flush() error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if rw.err == nil {
		if err := rw.w.Flush(); err != nil {
			rw.err = fmt.Errorf("writing %s: %w", rw.f.Name(), err)
		}
	}
	return rw.err
}

// Close flushes, syncs and closes the file.
func (rw *ResultWriter) Close() error {
	rw.mu.Lock()
	if rw.closed {
		rw.mu.Unlock()
		return rw.err
	}
	rw.closed = true
	rw.mu.Unlock()
	close(rw.stop)
	<-rw.done

	rw.mu.Lock()
	defer rw.mu.Unlock()
	errs := []error{rw.err}
	if rw.err == nil {
		errs = append(errs, rw.w.Flush())
	}
	errs = append(errs, fault.Point("sync results.jsonl"), rw.f.Sync(), rw.f.Close())
	return errors.Join(errs...)
}

// Results streams the run's results.jsonl to fn. A torn last line (a crash
// mid-write) is ignored; a malformed line elsewhere is an error naming its
// line.
func (r Run) Results(fn func(*repo.Result) error) error {
	return ReadResults(r.dir.Results(), fn)
}

// ReadResults streams the results of a results.jsonl file to fn, as
// Run.Results does.
func ReadResults(path string, fn func(*repo.Result) error) error {
	rr := ResultsReader{Path: path}
	return rr.Each(fn)
}

// ResultsReader reads a results.jsonl: all of it, or (following a run that
// is still writing) what was appended since the last read.
type ResultsReader struct {
	Path string
	// Offset is just past the last complete line read; Each starts there
	// and moves it on.
	Offset int64
	// Filter, when set, skips lines that do not contain it before
	// decoding them (a cheap pre-filter: fn still sees only matches of
	// whatever it looks for).
	Filter []byte
	// Lenient skips malformed lines instead of failing (for pages that
	// show what they can of a damaged run).
	Lenient bool
}

// Each streams the complete lines from Offset on to fn. A missing file is
// an error wrapping fs.ErrNotExist.
func (rr *ResultsReader) Each(fn func(*repo.Result) error) error {
	f, err := os.Open(rr.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	if rr.Offset > 0 {
		if st, err := f.Stat(); err == nil && st.Size() < rr.Offset {
			rr.Offset = st.Size() // cut by a resume; what was read stays read
		}
		if _, err := f.Seek(rr.Offset, io.SeekStart); err != nil {
			return err
		}
	}
	start := rr.Offset
	return repo.EachLineUpTo(f, repo.MaxRecordLine, func(line []byte, number int, off int64, complete bool) error {
		if !complete {
			return nil
		}
		rr.Offset = start + off + int64(len(line)) + 1
		body := bytes.TrimSpace(line)
		if len(body) == 0 || (rr.Filter != nil && !bytes.Contains(body, rr.Filter)) {
			return nil
		}
		var res repo.Result
		err := repo.DecodeJSON(body, &res)
		if err == nil {
			// The decoder takes embedded JSON (structured output, tool
			// arguments, span attributes) on trust: a line whose embedded
			// JSON is broken is as malformed as one that is not JSON.
			err = res.Trace.Check()
		}
		if err != nil {
			if rr.Lenient {
				return nil
			}
			if start > 0 {
				return fmt.Errorf("%s: line at byte %d: %w", rr.Path, start+off, err)
			}
			return fmt.Errorf("%s:%d: %w", rr.Path, number, err)
		}
		return fn(&res)
	})
}

// CreateRegraded starts the run's regrade.jsonl afresh.
func (r Run) CreateRegraded() (*ResultWriter, error) {
	path := r.dir.Regraded()
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	return OpenResultWriterAt(path)
}

// OpenResultWriter opens the run's results.jsonl for appending (see
// OpenResultWriterAt).
func (r Run) OpenResultWriter() (*ResultWriter, error) { return OpenResultWriterAt(r.dir.Results()) }
