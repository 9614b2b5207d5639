package gitstore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/selfevals/selfevals/internal/heaptest"
)

// chunked streams data in writes of odd sizes (1, 2, 3, … bytes, then
// 4093), so CRLFs straddle writes.
func chunked(data []byte) Stream {
	return func(w io.Writer) error {
		for i, n := 0, 1; i < len(data); i, n = i+n, n+1 {
			if n > 64 {
				n = 4093
			}
			if _, err := w.Write(data[i:min(i+n, len(data))]); err != nil {
				return err
			}
		}
		return nil
	}
}

// streamContents are files of every line-ending kind the clean filter
// tells apart.
func streamContents() map[string][]byte {
	var big bytes.Buffer
	for i := range 40_000 { // 2.3 MB
		fmt.Fprintf(&big, `{"case_id":"c%07d","label":"pass","score":1}`+"\n", i)
	}
	var bigCRLF bytes.Buffer
	for i := range 20_000 {
		fmt.Fprintf(&bigCRLF, "line %d\r\n", i)
	}
	return map[string][]byte{
		"evals/results/demo/cases.jsonl":  big.Bytes(),
		"evals/results/demo/crlf.jsonl":   bigCRLF.Bytes(),
		"evals/results/demo/summary.json": []byte("{\r\n  \"cases\": 1\r\n}\r\n"),
		"evals/raw.txt":                   []byte("y\r\n"),
		"evals/mixed.txt":                 []byte("a\r\nb\nc\rd\r\n"),
		"evals/lone-cr.jsonl":             []byte("a\rb\r"),
		"evals/empty.jsonl":               nil,
		"evals/nul.bin":                   []byte("\x00\r\n\x00"),
		// Its only CRLF straddles the second and third writes of chunked.
		"evals/straddle.jsonl": []byte("ab\r\ncd"),
	}
}

// gitHashObject is the blob `git add` would store for content at path
// (`git hash-object --path`): what a committed file must be.
func gitHashObject(t *testing.T, dir, path string, content []byte) string {
	t.Helper()
	cmd := exec.Command("git", "hash-object", "--stdin", "--path="+path)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), gitEnv...)
	cmd.Stdin = bytes.NewReader(content)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git hash-object --path=%s: %v", path, err)
	}
	return strings.TrimSpace(string(out))
}

// streamShape sets a repository up one way candidates meet in the wild.
type streamShape struct {
	name   string
	format string            // --object-format
	config map[string]string // git config
	attrs  string            // .gitattributes
	linked bool              // commit from a linked work tree
}

// shapeRepo makes a repository of the shape with a commit on main (the
// spec, .gitattributes, and a file committed with CRLF before the config
// was set, which git's autocrlf then keeps as it is). It returns the
// repository's directory and the work tree to open.
func shapeRepo(t *testing.T, sh streamShape) (dir, work string) {
	t.Helper()
	dir = t.TempDir()
	if out, err := gitErr(dir, "init", "-q", "--object-format="+sh.format, "-b", "main"); err != nil {
		t.Skipf("this git cannot make %s repositories: %v\n%s", sh.format, err, out)
	}
	writeFile(t, dir, specPath, demoSpec)
	writeFile(t, dir, "evals/results/demo/old.jsonl", "old\r\nline\r\n")
	if sh.attrs != "" {
		writeFile(t, dir, ".gitattributes", sh.attrs)
	}
	commitAll(t, dir, "initial")
	for k, v := range sh.config {
		git(t, dir, "config", k, v)
	}
	work = dir
	if sh.linked {
		work = filepath.Join(t.TempDir(), "wt")
		git(t, dir, "worktree", "add", "-q", "-b", "topic", work)
	}
	return dir, work
}

func keepMessage(run string) string {
	return fmt.Sprintf("selfevals(demo): keep iteration 1\n\n%s: %s\n%s: 1\n", TrailerRun, run, TrailerIteration)
}

// Committing files from streams gives the same trees and blobs as
// committing them from memory, and those blobs are the ones git itself
// stores for the content (`git hash-object --path`: the clean filter
// applied), on SHA-1 and SHA-256 repositories, with autocrlf, eol
// attributes and a linked work tree.
func TestStreamedCommitMatchesInMemory(t *testing.T) {
	t.Parallel()
	shapes := []streamShape{
		{name: "sha1", format: "sha1"},
		{name: "sha256", format: "sha256"},
		{name: "sha1 autocrlf=true", format: "sha1", config: map[string]string{"core.autocrlf": "true"}},
		{name: "sha256 autocrlf=true", format: "sha256", config: map[string]string{"core.autocrlf": "true"}},
		{name: "sha1 autocrlf=input", format: "sha1", config: map[string]string{"core.autocrlf": "input"}},
		{name: "sha1 attributes", format: "sha1", attrs: "*.txt -text\n*.jsonl text eol=crlf\nevals/results/** text eol=lf\n"},
		{name: "sha256 autocrlf=true attributes", format: "sha256", config: map[string]string{"core.autocrlf": "true"}, attrs: "*.txt -text\n*.jsonl text\n"},
		{name: "sha1 core.eol=crlf text=auto", format: "sha1", config: map[string]string{"core.eol": "crlf"}, attrs: "* text=auto\n"},
		{name: "sha1 linked work tree autocrlf=true", format: "sha1", config: map[string]string{"core.autocrlf": "true"}, linked: true},
	}
	contents := streamContents()
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			t.Parallel()
			dir, work := shapeRepo(t, sh)
			g := open(t, work)
			base := git(t, dir, "rev-parse", "HEAD")
			streams := map[string]Stream{}
			for p, c := range contents {
				streams[p] = chunked(c)
			}
			for _, c := range []CandidateCommit{
				{Branch: "selfevals/mem", Slug: "mem", Parent: base, Files: contents, Message: keepMessage("run_mem")},
				{Branch: "selfevals/streamed", Slug: "streamed", Parent: base, Streams: streams, Message: keepMessage("run_streamed")},
			} {
				if _, err := g.CommitCandidate(c); err != nil {
					t.Fatalf("commit to %s: %v", c.Branch, err)
				}
			}
			mem, streamed := git(t, dir, "rev-parse", "selfevals/mem^{tree}"), git(t, dir, "rev-parse", "selfevals/streamed^{tree}")
			if mem != streamed {
				t.Errorf("streamed tree %s, in-memory tree %s:\n%s", streamed, mem, git(t, dir, "diff", "--stat", "selfevals/mem", "selfevals/streamed"))
			}
			for p, content := range contents {
				got := git(t, dir, "rev-parse", "selfevals/streamed:"+p)
				if want := gitHashObject(t, work, p, content); got != want {
					t.Errorf("%s: blob %s, git add would store %s", p, got, want)
				}
			}
			if got := git(t, dir, "cat-file", "-s", "selfevals/streamed:evals/results/demo/cases.jsonl"); got != fmt.Sprint(len(contents["evals/results/demo/cases.jsonl"])) {
				t.Errorf("cases.jsonl is %s bytes in the commit", got)
			}
			fsck(t, dir)
		})
	}
}

// A stream that writes other bytes the second time fails the commit, and
// the repository stays whole: no branch, nothing git fsck objects to.
func TestStreamChangedBetweenWritings(t *testing.T) {
	t.Parallel()
	for name, second := range map[string]string{
		"shorter":    "line 1\nline\n",
		"longer":     "line 1\nline 2\nline 3\n",
		"same size":  "line 1\nline 3\n",
		"crlf":       "line 1\r\nline 3\r\n",
		"crlf first": "",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := newRepo(t, map[string]string{specPath: demoSpec})
			git(t, dir, "config", "core.autocrlf", "true")
			first := "line 1\nline 2\n"
			if name == "crlf" || name == "crlf first" {
				first = "line 1\r\nline 2\r\n"
			}
			calls := 0
			s := func(w io.Writer) error {
				calls++
				content := first
				if calls > 1 {
					content = second
				}
				_, err := io.WriteString(w, content)
				return err
			}
			c := candidateOf(git(t, dir, "rev-parse", "HEAD"), "run_1", 1, "x")
			c.Streams = map[string]Stream{"evals/results/demo/cases.jsonl": s}
			_, err := open(t, dir).CommitCandidate(c)
			if !errors.Is(err, errChanged) || !strings.Contains(err.Error(), "write evals/results/demo/cases.jsonl: its content changed") {
				t.Errorf("err = %v, want the content changed", err)
			}
			if calls != 2 {
				t.Errorf("the stream was called %d times, want 2", calls)
			}
			if refs := git(t, dir, "for-each-ref", "refs/heads/selfevals"); refs != "" {
				t.Errorf("a branch was made: %s", refs)
			}
			fsck(t, dir)
		})
	}
}

// A stream's own error is the commit's, on either writing.
func TestStreamError(t *testing.T) {
	t.Parallel()
	dir := newRepo(t, map[string]string{specPath: demoSpec})
	g := open(t, dir)
	base := git(t, dir, "rev-parse", "HEAD")
	for _, failOn := range []int{1, 2} {
		calls := 0
		c := candidateOf(base, "run_1", 1, "x")
		c.Streams = map[string]Stream{"evals/results/demo/cases.jsonl": func(w io.Writer) error {
			calls++
			if _, err := io.WriteString(w, "{}\n"); err != nil {
				return err
			}
			if calls == failOn {
				return errors.New("the disk went away")
			}
			return nil
		}}
		if _, err := g.CommitCandidate(c); err == nil || !strings.Contains(err.Error(), "write evals/results/demo/cases.jsonl: the disk went away") {
			t.Errorf("failing on writing %d: err = %v", failOn, err)
		}
	}
	c := candidateOf(base, "run_1", 1, "x")
	c.Streams = map[string]Stream{summaryPath: bytesStream([]byte("{}\n"))}
	if _, err := g.CommitCandidate(c); err == nil || !strings.Contains(err.Error(), `file "`+summaryPath+`" is given both as bytes and as a stream`) {
		t.Errorf("a path in Files and Streams: %v", err)
	}
	fsck(t, dir)
}

// generated streams size bytes of cases.jsonl-like lines made as they are
// written: the test holds none of it.
func generated(size int64, eol string) Stream {
	return func(w io.Writer) error {
		buf := make([]byte, 0, 64<<10)
		var n int64
		for i := 0; n < size; i++ {
			buf = fmt.Appendf(buf, `{"case_id":"c%09d","label":"pass","score":1,"definition":"def_0123456789abcdef"}`+eol, i)
			if len(buf) >= 60<<10 || n+int64(len(buf)) >= size {
				k := min(int64(len(buf)), size-n)
				if _, err := w.Write(buf[:k]); err != nil {
					return err
				}
				n += k
				buf = buf[:0]
			}
		}
		return nil
	}
}

// Committing 48 MB from a stream, and 16 MB with CRLF through the clean
// filter, keeps the live heap flat under a low memory limit: the blob is
// compressed and hashed as it is written, never held. (Built in memory,
// as before, it cost twice its size: the bytes and go-git's copy.)
func TestStreamedCommitHeapBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 64 MB into a repository")
	}
	dir := newRepo(t, map[string]string{specPath: demoSpec})
	git(t, dir, "config", "core.autocrlf", "true")
	g := open(t, dir)
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(16 << 20))
	const lf, crlf = 48 << 20, 16 << 20
	base := heaptest.Live()
	peak := heaptest.WatchLive(t)
	c := candidateOf(git(t, dir, "rev-parse", "HEAD"), "run_1", 1, "x")
	c.Streams = map[string]Stream{
		"evals/results/demo/cases.jsonl": generated(lf, "\n"),
		"evals/results/demo/crlf.jsonl":  generated(crlf, "\r\n"),
	}
	if _, err := g.CommitCandidate(c); err != nil {
		t.Fatal(err)
	}
	got := int64(peak()) - int64(base)
	t.Logf("peak live heap %.1f MB over the %.1f MB before, committing %d MB", float64(got)/1e6, float64(base)/1e6, (lf+crlf)>>20)
	// Buffers: the zlib writer's, the copy's, the generator's.
	const bound = 4 << 20
	if got > bound {
		t.Errorf("the live heap grew by %d bytes committing streams, more than %d", got, bound)
	}
	if size := git(t, dir, "cat-file", "-s", "selfevals/demo:evals/results/demo/cases.jsonl"); size != fmt.Sprint(lf) {
		t.Errorf("cases.jsonl is %s bytes in the commit, want %d", size, lf)
	}
	if size, _ := strconv.Atoi(git(t, dir, "cat-file", "-s", "selfevals/demo:evals/results/demo/crlf.jsonl")); size >= crlf {
		t.Errorf("crlf.jsonl is %d bytes in the commit: its CRLFs were not converted (%d bytes given)", size, crlf)
	}
	fsck(t, dir)
}
