package gitstore

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// fileStream streams the file at path.
func fileStream(path string) Stream {
	return func(w io.Writer) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(w, f)
		return err
	}
}

// BenchmarkCommitLargeFile commits a 48 MB cases.jsonl (300,000 cases'
// worth) as a candidate: streamed from its file, from memory (the path
// candidates took before), and beside them `git hash-object -w` of the
// file, the floor. Each round changes the file's first bytes, so every
// round stores a new blob (git skips writing one it already has).
func BenchmarkCommitLargeFile(b *testing.B) {
	const size = 48 << 20
	dir := b.TempDir()
	git := func(args ...string) string {
		out, err := gitErr(dir, args...)
		if err != nil {
			b.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return out
	}
	git("init", "-q", "-b", "main")
	writeFileB(b, filepath.Join(dir, specPath), demoSpec)
	git("add", "-A")
	git("commit", "-q", "-m", "initial")
	base := git("rev-parse", "HEAD")
	path := filepath.Join(b.TempDir(), "cases.jsonl")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := generated(size, "\n")(f); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	g, err := Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	const target = "evals/results/demo/cases.jsonl"
	// stamp makes round i's content differ from every other round's.
	stamp := func(i int) {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if _, err := fmt.Fprintf(f, `{"case_id":"x%09d"`, i); err != nil {
			b.Fatal(err)
		}
	}
	commit := func(b *testing.B, i int, c CandidateCommit) {
		c.Branch, c.Slug, c.Parent = "selfevals/demo", "demo", base
		c.Message = keepMessage(fmt.Sprintf("run_%d", i))
		if _, err := g.CommitCandidate(c); err != nil {
			b.Fatal(err)
		}
	}
	round := 0
	b.Run("stream", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			round++
			stamp(round)
			commit(b, round, CandidateCommit{Streams: map[string]Stream{target: fileStream(path)}})
		}
	})
	b.Run("bytes", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			round++
			stamp(round)
			data, err := os.ReadFile(path)
			if err != nil {
				b.Fatal(err)
			}
			commit(b, round, CandidateCommit{Files: map[string][]byte{target: data}})
		}
	})
	b.Run("git-hash-object", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			round++
			stamp(round)
			cmd := exec.Command("git", "hash-object", "-w", "--path="+target, path)
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("git hash-object: %v\n%s", err, out)
			}
		}
	})
}

func writeFileB(b *testing.B, p, content string) {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		b.Fatal(err)
	}
}
