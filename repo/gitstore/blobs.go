package gitstore

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v6/plumbing"
	"github.com/go-git/go-git/v6/plumbing/storer"
)

// Large blobs are read through the git CLI. go-git v6 resolves an object
// stored as a delta in a pack whole in memory, beside its base (and every
// base of its chain), and its object cache keeps them: a dataset or
// cases.jsonl of 48 MB in a repository after `git gc` cost several times
// that. Its LargeObjectThreshold only applies to loose objects, and even
// asking a packed delta its size resolves it. go-git has a streaming
// delta reader (packfile.ReaderFromDelta), but its storage never uses it,
// and on a chain of deltas each copy that goes back in a base would
// inflate that base again from its start. git resolves the delta in its
// own process (holding the blob and its base while it does, as it must),
// and selfevals reads what it prints as a stream, holding none of it.
// Without the git CLI go-git reads every blob.

var (
	gitOnce sync.Once
	gitPath string // the git CLI, or "" when it is not on PATH
)

// gitCLI is the path of the git CLI, looked up once.
func gitCLI() string {
	gitOnce.Do(func() { gitPath, _ = exec.LookPath("git") })
	return gitPath
}

// sizer answers the size of objects of one repository from a `git
// cat-file --batch-check` kept running beside it: one line written and
// one read per object, without reading the object.
type sizer struct {
	mu     sync.Mutex
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	broken bool // failed to start or to answer: go-git answers from then on
}

// errNoSizer says the git CLI cannot answer (not on PATH, or it failed).
var errNoSizer = errors.New("git cat-file is not available")

// size is the size of the object h, as git reads it in dir.
func (s *sizer) size(dir string, h plumbing.Hash) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken {
		return 0, errNoSizer
	}
	if s.cmd == nil {
		if err := s.start(dir); err != nil {
			s.broken = true
			return 0, errNoSizer
		}
	}
	n, err := s.ask(h)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return 0, err // git lacks what go-git has: go-git reads it
	}
	if err != nil {
		s.broken = true
		s.stopLocked()
		return 0, errNoSizer
	}
	return n, nil
}

func (s *sizer) start(dir string) error {
	if gitCLI() == "" {
		return errNoSizer
	}
	cmd := exec.Command(gitCLI(), "-C", dir, "cat-file", "--batch-check=%(objectsize)")
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd, s.in, s.out = cmd, in, bufio.NewReader(out)
	return nil
}

// ask writes h and reads its answer: a size, or "<h> missing".
func (s *sizer) ask(h plumbing.Hash) (int64, error) {
	if _, err := io.WriteString(s.in, h.String()+"\n"); err != nil {
		return 0, err
	}
	line, err := s.out.ReadString('\n')
	if err != nil {
		return 0, err
	}
	line = strings.TrimSuffix(line, "\n")
	if strings.HasSuffix(line, " missing") {
		return 0, plumbing.ErrObjectNotFound
	}
	return strconv.ParseInt(line, 10, 64)
}

// stop ends the process (its input closed, it exits), if it runs.
func (s *sizer) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

func (s *sizer) stopLocked() {
	if s.cmd == nil {
		return
	}
	_ = s.in.Close()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// newSource is a source whose sizer stops when the source is no longer
// used (a Git has no Close; its process would otherwise wait on its input
// until selfevals exits).
func newSource(store storer.EncodedObjectStorer, dir, path string) *source {
	src := &source{store: store, dir: dir, path: path, sizes: &sizer{}}
	runtime.AddCleanup(src, func(s *sizer) { s.stop() }, src.sizes)
	return src
}

// blobStat is what statBlob learnt of a blob: its size, and whether git
// gave it (so git has the blob and can print it).
type blobStat struct {
	size  int64
	inGit bool
}

// statBlob is the size of the blob h in src, read without reading the
// blob when git can answer.
func (g *Git) statBlob(src *source, h plumbing.Hash) (blobStat, error) {
	switch err := src.store.HasEncodedObject(h); {
	case err == nil && isLoose(src.store, h):
		// A loose object's size is in its header, which go-git reads
		// cheaply; only a packed one can be a delta it would resolve.
		if n, err := src.store.EncodedObjectSize(h); err == nil {
			return blobStat{size: n}, nil
		}
	case err == nil:
		if n, err := src.sizes.size(src.dir, h); err == nil {
			return blobStat{size: n, inGit: true}, nil
		}
	case errors.Is(err, plumbing.ErrObjectNotFound) && gitCLI() != "":
		// A blob a partial clone lacks: git fetches it to answer.
		n, err := lazySize(src, h)
		if err != nil {
			return blobStat{}, err
		}
		if n >= 0 {
			return blobStat{size: n, inGit: true}, nil
		}
	}
	b, err := g.getBlob(src, h)
	if err != nil {
		return blobStat{}, err
	}
	return blobStat{size: b.Size}, nil
}

// isLoose reports whether h is stored as a loose object of store.
func isLoose(store storer.EncodedObjectStorer, h plumbing.Hash) bool {
	loose, ok := store.(interface {
		LooseObjectTime(plumbing.Hash) (time.Time, error)
	})
	if !ok {
		return false
	}
	_, err := loose.LooseObjectTime(h)
	return err == nil
}

// openBlob opens the blob h of src, of which statBlob said st, for
// reading: a blob over largeBlob as git prints it when git has it;
// others, and every blob without the git CLI, through go-git.
func (g *Git) openBlob(src *source, h plumbing.Hash, st blobStat) (io.ReadCloser, error) {
	if st.size > largeBlob && st.inGit {
		return catBlob(src.dir, h, st.size)
	}
	b, err := g.getBlob(src, h)
	if err != nil {
		return nil, err
	}
	return b.Reader()
}

// catBlob streams the blob h of size bytes from `git cat-file blob`.
func catBlob(dir string, h plumbing.Hash, size int64) (io.ReadCloser, error) {
	cmd := exec.Command(gitCLI(), "-C", dir, "cat-file", "blob", h.String())
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	r := &catReader{cmd: cmd, h: h, left: size}
	cmd.Stderr = &r.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("blob %s: %w", h, err)
	}
	r.out = out
	return r, nil
}

// catReader is the output of `git cat-file blob`: it checks that git
// printed as many bytes as the blob has and exited cleanly.
type catReader struct {
	cmd    *exec.Cmd
	h      plumbing.Hash
	out    io.ReadCloser
	stderr bytes.Buffer
	left   int64 // bytes the blob has still to give
	err    error // the end: io.EOF, or what went wrong
	waited bool
}

func (r *catReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.out.Read(p)
	r.left -= int64(n)
	if r.left < 0 {
		_ = r.cmd.Process.Kill()
		r.err = r.finish()
		return n, r.err
	}
	if err == io.EOF {
		r.err = r.finish()
		if n > 0 && r.err == io.EOF {
			return n, nil
		}
		return n, r.err
	}
	return n, err
}

// finish waits for git; io.EOF when it gave the whole blob.
func (r *catReader) finish() error {
	r.waited = true
	err := r.cmd.Wait()
	switch {
	case r.left < 0:
		return fmt.Errorf("blob %s: git cat-file printed more bytes than its size", r.h)
	case err != nil:
		why := firstLine(strings.TrimSpace(r.stderr.String()))
		if why == "" {
			why = err.Error()
		}
		return fmt.Errorf("blob %s: git cat-file: %s", r.h, why)
	case r.left > 0:
		return fmt.Errorf("blob %s: git cat-file stopped %d bytes short of its size: %w", r.h, r.left, io.ErrUnexpectedEOF)
	}
	return io.EOF
}

// Close ends git if the blob was not read to its end.
func (r *catReader) Close() error {
	if r.waited {
		return nil
	}
	r.waited = true
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	return nil
}
