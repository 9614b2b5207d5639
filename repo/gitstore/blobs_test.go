package gitstore

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/go-git/go-git/v6/plumbing"
	"github.com/go-git/go-git/v6/plumbing/object"
	"github.com/selfevals/selfevals/internal/heaptest"
)

const bigPath = "evals/results/x/cases.jsonl"

// largePackedRepo makes a repository of the object format given ("sha1",
// "sha256") whose bigPath, of about size bytes, changes in a second
// commit in every 100th line, then packs it as `git gc --aggressive`
// does. It returns the directory, the content at HEAD~1 and HEAD, and
// the revision whose blob the pack holds as a delta.
func largePackedRepo(tb testing.TB, format string, size int) (dir string, contents map[string][]byte, deltified string) {
	tb.Helper()
	dir = tb.TempDir()
	if out, err := gitErr(dir, "init", "-q", "--object-format="+format, "-b", "main"); err != nil {
		tb.Skipf("this git cannot make %s repositories: %v\n%s", format, err, out)
	}
	var a, b bytes.Buffer
	for i := 0; a.Len() < size; i++ {
		line := fmt.Sprintf(`{"case_id":"case_%08d","label":"pass","score":1,"reason":"the reply names the refund policy"}`+"\n", i)
		a.WriteString(line)
		if i%100 == 7 {
			line = strings.Replace(line, `"pass","score":1`, `"fail","score":0`, 1)
		}
		b.WriteString(line)
	}
	contents = map[string][]byte{"HEAD~1": a.Bytes(), "HEAD": b.Bytes()}
	for _, rev := range []string{"HEAD~1", "HEAD"} {
		p := filepath.Join(dir, filepath.FromSlash(bigPath))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, contents[rev], 0o644); err != nil {
			tb.Fatal(err)
		}
		mustGit(tb, dir, "add", "-A")
		mustGit(tb, dir, "commit", "-q", "-m", rev)
	}
	mustGit(tb, dir, "gc", "-q", "--aggressive")
	return dir, contents, deltaRev(tb, dir, "HEAD~1", "HEAD")
}

// deltaRev is the one of revs whose bigPath the pack of the repository
// at dir holds as a delta.
func deltaRev(tb testing.TB, dir string, revs ...string) string {
	tb.Helper()
	packDir := mustGit(tb, dir, "rev-parse", "--path-format=absolute", "--git-path", "objects/pack")
	packs, _ := filepath.Glob(filepath.Join(packDir, "*.idx"))
	if len(packs) != 1 {
		tb.Fatalf("git gc left %d packs", len(packs))
	}
	// verify-pack names a delta's base after its depth: 7 fields.
	objects := mustGit(tb, dir, "verify-pack", "-v", packs[0])
	for _, rev := range revs {
		h := mustGit(tb, dir, "rev-parse", rev+":"+bigPath)
		for _, line := range strings.Split(objects, "\n") {
			if f := strings.Fields(line); len(f) == 7 && f[0] == h {
				return rev
			}
		}
	}
	tb.Fatalf("git gc stored no version as a delta:\n%s", objects)
	return ""
}

func mustGit(tb testing.TB, dir string, args ...string) string {
	tb.Helper()
	out, err := gitErr(dir, args...)
	if err != nil {
		tb.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// A large blob stored as a delta in a pack reads whole and right through
// Open, ReadFile and Stat, in SHA-1 and SHA-256 repositories and in a
// linked work tree, and reading it does not hold it in memory: go-git
// resolved it beside its base, three times its size or more.
func TestLargePackedDeltaStreams(t *testing.T) {
	for _, format := range []string{"sha1", "sha256"} {
		t.Run(format, func(t *testing.T) {
			dir, contents, deltified := largePackedRepo(t, format, largeBlob+4<<20)
			linked := filepath.Join(t.TempDir(), "linked")
			mustGit(t, dir, "worktree", "add", "-q", "--detach", linked)
			for _, where := range []string{dir, linked} {
				g := open(t, where)
				for rev, want := range contents {
					tree, err := g.TreeAt(rev)
					if err != nil {
						t.Fatal(err)
					}
					st, err := fs.Stat(tree, bigPath)
					if err != nil || st.Size() != int64(len(want)) {
						t.Fatalf("%s: Stat = %v, %v; want %d bytes", rev, st, err, len(want))
					}
					sum, peak := hashPeak(t, tree)
					if sum != sha256.Sum256(want) {
						t.Errorf("%s at %s: Open read other bytes", rev, where)
					}
					t.Logf("%s at %s: heap +%d KB while read", rev, where, peak>>10)
					if rev == deltified && peak > largeBlob/4 {
						t.Errorf("%s (a delta) at %s: the heap grew by %d MB while it was read", rev, where, peak>>20)
					}
					got, err := tree.ReadFile(bigPath)
					if err != nil || !bytes.Equal(got, want) {
						t.Errorf("%s: ReadFile: %d bytes, %v", rev, len(got), err)
					}
				}
			}
		})
	}
}

// hashPeak reads bigPath of tree through Open and returns its SHA-256 and
// how far the heap rose while it was read (readPeak).
func hashPeak(t *testing.T, tree *Tree) (sum [sha256.Size]byte, peak uint64) {
	t.Helper()
	peak = readPeak(t, func() error {
		f, err := tree.Open(bigPath)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		h.Sum(sum[:0])
		return nil
	})
	return sum, peak
}

// readPeak runs fn under a 16 MiB memory limit and returns how far the
// heap's objects rose above what they were when fn started.
func readPeak(t *testing.T, fn func() error) uint64 {
	t.Helper()
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(16 << 20))
	runtime.GC()
	base := heaptest.Objects()
	return max(heaptest.Peak(t, fn), base) - base
}

// A reader closed before the blob's end stops git, and one read to the
// end reports git's failure when the blob is not there.
func TestCatBlobEnds(t *testing.T) {
	t.Parallel()
	dir, contents, _ := largePackedRepo(t, "sha1", largeBlob+1<<20)
	g := open(t, dir)
	tree, err := g.TreeAt("HEAD")
	if err != nil {
		t.Fatal(err)
	}
	f, err := tree.Open(bigPath)
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 100)
	if _, err := io.ReadFull(f, head); err != nil || !bytes.Equal(head, contents["HEAD"][:100]) {
		t.Fatalf("first bytes %q, %v", head, err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("Close before the end: %v", err)
	}
	if _, err := f.Read(head); err == nil {
		t.Error("a closed file read")
	}

	missing := plumbing.NewHash(strings.Repeat("ab", 20))
	r, err := catBlob(dir, missing, largeBlob+1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(io.Discard, r)
	if err == nil || !strings.Contains(err.Error(), "blob "+missing.String()+": git cat-file: fatal:") {
		t.Errorf("a blob git does not have: %v", err)
	}
	_ = r.Close()

	// A size that is not the blob's is an error, not a short read.
	h := plumbing.NewHash(mustGit(t, dir, "rev-parse", "HEAD:"+bigPath))
	for _, size := range []int64{int64(len(contents["HEAD"])) + 1, int64(len(contents["HEAD"])) - 1} {
		r, err := catBlob(dir, h, size)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, r); err == nil {
			t.Errorf("size %d for a blob of %d: no error", size, len(contents["HEAD"]))
		}
		_ = r.Close()
	}
}

// Without the git CLI on PATH, go-git reads large blobs (resolving a
// delta in memory): the test binary runs itself with an empty PATH.
func TestLargeBlobsWithoutGitCLI(t *testing.T) {
	if dir := os.Getenv("GITSTORE_TEST_NO_GIT_DIR"); dir != "" {
		if gitCLI() != "" {
			t.Fatalf("git is on PATH: %s", gitCLI())
		}
		g := open(t, dir)
		for _, rev := range []string{"HEAD~1", "HEAD"} {
			b, err := g.ReadFile(rev, bigPath)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Printf("%s %x\n", rev, sha256.Sum256(b))
		}
		return
	}
	t.Parallel()
	dir, contents, _ := largePackedRepo(t, "sha1", largeBlob+1<<20)
	cmd := exec.Command(os.Args[0], "-test.run=^TestLargeBlobsWithoutGitCLI$", "-test.v")
	cmd.Env = append(os.Environ(), "GITSTORE_TEST_NO_GIT_DIR="+dir, "PATH=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, rev := range []string{"HEAD~1", "HEAD"} {
		if want := fmt.Sprintf("%s %x\n", rev, sha256.Sum256(contents[rev])); !strings.Contains(string(out), want) {
			t.Errorf("without git, %s read other bytes:\n%s", rev, out)
		}
	}
}

// BenchmarkReadPackedDelta reads a blob of 24 MB stored as a delta in a
// pack, through a revision's Tree (git cat-file, streamed); go-git is the
// same read through go-git's storage, opened afresh each time (its object
// cache would keep the resolved blob): the delta resolved in memory.
func BenchmarkReadPackedDelta(b *testing.B) {
	dir, contents, deltified := largePackedRepo(b, "sha1", 24<<20)
	g, err := Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	tree, err := g.TreeAt(deltified)
	if err != nil {
		b.Fatal(err)
	}
	size := int64(len(contents[deltified]))
	read := func(b *testing.B, open func() (io.ReadCloser, error)) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			r, err := open()
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.Copy(io.Discard, r)
			if err != nil || n != size {
				b.Fatalf("%d bytes read of %d: %v", n, size, err)
			}
			_ = r.Close()
		}
	}
	b.Run("tree", func(b *testing.B) {
		read(b, func() (io.ReadCloser, error) { return tree.Open(bigPath) })
	})
	b.Run("go-git", func(b *testing.B) {
		h := plumbing.NewHash(mustGit(b, dir, "rev-parse", deltified+":"+bigPath))
		read(b, func() (io.ReadCloser, error) {
			fresh, err := Open(dir)
			if err != nil {
				return nil, err
			}
			blob, err := object.GetBlob(fresh.top.store, h)
			if err != nil {
				return nil, err
			}
			return blob.Reader()
		})
	})
}

// A large packed delta inside a submodule is read by git in the
// submodule's checkout, where its objects are.
func TestLargePackedDeltaInASubmodule(t *testing.T) {
	data, contents, _ := largePackedRepo(t, "sha1", largeBlob+1<<20)
	dir := newRepo(t, map[string]string{"evals/experiments/demo.yaml": "experiment: {}\n"})
	git(t, dir, "-c", "protocol.file.allow=always", "submodule", "add", "-q", "file://"+filepath.ToSlash(data), "sub")
	sub := filepath.Join(dir, "sub")
	git(t, sub, "gc", "-q", "--aggressive")
	// The superproject records the commit whose blob the submodule's
	// pack holds as a delta.
	deltified := deltaRev(t, sub, "HEAD~1", "HEAD")
	want := contents[deltified]
	git(t, sub, "checkout", "-q", git(t, sub, "rev-parse", deltified))
	commitAll(t, dir, "add the submodule")
	tree := mustTree(t, dir, "HEAD")
	if st, err := fs.Stat(tree, "sub/"+bigPath); err != nil || st.Size() != int64(len(want)) {
		t.Fatalf("Stat = %v, %v; want %d bytes", st, err, len(want))
	}
	var got []byte
	peak := readPeak(t, func() (err error) {
		got, err = fs.ReadFile(tree, "sub/"+bigPath)
		return err
	})
	if !bytes.Equal(got, want) {
		t.Errorf("read %d bytes, other than the submodule's %d", len(got), len(want))
	}
	// The content itself, and nothing near a second copy.
	if peak > uint64(len(want))+largeBlob/4 {
		t.Errorf("the heap grew by %d MB reading %d MB", peak>>20, len(want)>>20)
	}
}

// A large blob a partial clone lacks is fetched by git when its size is
// asked, then read from git as a stream, as in any clone.
func TestLargeBlobInABloblessClone(t *testing.T) {
	dir, contents, _ := largePackedRepo(t, "sha1", largeBlob+1<<20)
	git(t, dir, "config", "uploadpack.allowFilter", "true")
	clone := filepath.Join(t.TempDir(), "clone")
	git(t, dir, "clone", "-q", "--no-checkout", "--filter=blob:none", "file://"+filepath.ToSlash(dir), clone)
	tree := mustTree(t, clone, "HEAD~1")
	want := contents["HEAD~1"]
	sum, peak := hashPeak(t, tree)
	if sum != sha256.Sum256(want) {
		t.Error("the fetched blob read as other bytes")
	}
	if peak > largeBlob/4 {
		t.Errorf("the heap grew by %d MB while the blob was fetched and read", peak>>20)
	}
	if missing := git(t, clone, "rev-list", "--objects", "--missing=print", "HEAD~1"); strings.Contains(missing, "?"+git(t, dir, "rev-parse", "HEAD~1:"+bigPath)) {
		t.Errorf("git still lacks the blob:\n%s", missing)
	}
}

// A large loose blob is sized from its header and streamed by go-git: no
// git process is started for it, and the heap holds none of it.
func TestLargeLooseBlobNeedsNoGitProcess(t *testing.T) {
	var content bytes.Buffer
	for i := 0; content.Len() < largeBlob+1<<20; i++ {
		fmt.Fprintf(&content, `{"case_id":"case_%08d","label":"pass"}`+"\n", i)
	}
	dir := newRepo(t, map[string]string{bigPath: content.String()})
	g, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := g.TreeAt("HEAD")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := fs.Stat(tree, bigPath); err != nil || st.Size() != int64(content.Len()) {
		t.Fatalf("Stat = %v, %v; want %d bytes", st, err, content.Len())
	}
	sum, peak := hashPeak(t, tree)
	if sum != sha256.Sum256(content.Bytes()) {
		t.Error("Open read other bytes")
	}
	if peak > largeBlob/4 {
		t.Errorf("the heap grew by %d KB reading a %d MB loose blob", peak>>10, content.Len()>>20)
	}
	g.top.sizes.mu.Lock()
	started := g.top.sizes.cmd != nil
	g.top.sizes.mu.Unlock()
	if started {
		t.Error("a git cat-file process was started to size a loose blob")
	}
}
