package gitstore

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func commitAll(t *testing.T, dir, msg string) string {
	t.Helper()
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "--allow-empty", "-m", msg)
	return git(t, dir, "rev-parse", "HEAD")
}

func TestFileHistory(t *testing.T) {
	t.Parallel()
	dir := newRepo(t, map[string]string{"README.md": "hi\n"})
	writeFile(t, dir, "evals/results/demo/summary.json", "v1\n")
	c1 := commitAll(t, dir, "add summary")
	writeFile(t, dir, "evals/results/demo/summary.json", "v2\n")
	c2 := commitAll(t, dir, "change summary")
	writeFile(t, dir, "other.txt", "x\n")
	commitAll(t, dir, "unrelated")
	writeFile(t, dir, "evals/results/demo/summary.json", "v3\n")
	c4 := commitAll(t, dir, "change summary again")

	g := open(t, dir)
	type version struct{ Hash, Subject, Content string }
	history := func(rev string) []version {
		t.Helper()
		vs, err := g.FileHistory(rev, "evals/results/demo/summary.json")
		if err != nil {
			t.Fatal(err)
		}
		var out []version
		for _, v := range vs {
			c := "<deleted>"
			if v.Content != nil {
				c = string(v.Content)
			}
			if v.Commit.Time.IsZero() {
				t.Errorf("%s: no time", v.Commit.Hash)
			}
			out = append(out, version{v.Commit.Hash, v.Commit.Subject, c})
		}
		return out
	}
	want := []version{
		{c4, "change summary again", "v3\n"},
		{c2, "change summary", "v2\n"},
		{c1, "add summary", "v1\n"},
	}
	if diff := cmp.Diff(want, history("HEAD")); diff != "" {
		t.Errorf("FileHistory (-want +got):\n%s", diff)
	}

	git(t, dir, "rm", "-q", "evals/results/demo/summary.json")
	c5 := commitAll(t, dir, "drop summary")
	want = append([]version{{c5, "drop summary", "<deleted>"}}, want...)
	if diff := cmp.Diff(want, history("main")); diff != "" {
		t.Errorf("FileHistory after delete (-want +got):\n%s", diff)
	}
	if vs, err := g.FileHistory("HEAD", "never/there.json"); err != nil || len(vs) != 0 {
		t.Errorf("FileHistory of a file never committed = %v, %v", vs, err)
	}
}

func TestBranchCommitsTrailers(t *testing.T) {
	t.Parallel()
	dir := newRepo(t, map[string]string{"README.md": "hi\n"})
	g := open(t, dir)
	if _, err := g.CommitFiles("selfevals/demo", map[string][]byte{"a.txt": []byte("1\n")},
		"selfevals(demo): keep iteration 1\n\nWhy: lower temperature.\n\nSelfevals-Run: run_a\nSelfevals-Iteration: 1"); err != nil {
		t.Fatal(err)
	}
	// A hand-made commit on the branch without trailers is not a candidate.
	if _, err := g.CommitFiles("selfevals/demo", map[string][]byte{"b.txt": []byte("1\n")}, "tweak by hand"); err != nil {
		t.Fatal(err)
	}
	if _, err := g.CommitFiles("selfevals/demo", map[string][]byte{"a.txt": []byte("2\n")},
		"selfevals(demo): keep iteration 2\n\nSelfevals-Run: run_x\nSelfevals-Iteration: 2"); err != nil {
		t.Fatal(err)
	}
	commits, err := g.BranchCommits("selfevals/demo", "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Subject  string
		Trailers map[string]string
	}
	var got []row
	for _, c := range commits {
		got = append(got, row{c.Subject, c.Trailers})
	}
	want := []row{
		{"selfevals(demo): keep iteration 2", map[string]string{"Selfevals-Run": "run_x", "Selfevals-Iteration": "2"}},
		{"selfevals(demo): keep iteration 1", map[string]string{"Selfevals-Run": "run_a", "Selfevals-Iteration": "1"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("BranchCommits (-want +got):\n%s", diff)
	}
	if v, ok := commits[0].Trailer("selfevals-run"); !ok || v != "run_x" {
		t.Errorf("Trailer is not case-insensitive: %q %v", v, ok)
	}

	all, err := g.Log("selfevals/demo", "", "")
	if err != nil || len(all) != 4 {
		t.Errorf("Log without stop or filter: %d commits, %v; want 4", len(all), err)
	}

	// Once merged, the branch brings nothing new.
	git(t, dir, "merge", "-q", "--ff-only", "selfevals/demo")
	if commits, err := g.BranchCommits("selfevals/demo", "HEAD"); err != nil || len(commits) != 0 {
		t.Errorf("after merging: %v, %v; want none", commits, err)
	}
	// Without stopAt, the whole first-parent history counts.
	if commits, err := g.BranchCommits("selfevals/demo", ""); err != nil || len(commits) != 2 {
		t.Errorf("without stopAt: %d, %v; want 2", len(commits), err)
	}
	if _, err := g.BranchCommits("selfevals/missing", "HEAD"); err == nil {
		t.Error("BranchCommits of a missing branch: no error")
	}
}

func TestParseTrailers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		msg  string
		want map[string]string
	}{
		{"subject only\n", nil},
		{"Selfevals-Run: run_1\n", nil}, // the subject is never a trailer
		{"subject\n\nSelfevals-Run: run_1\nSelfevals-Iteration: 2\n", map[string]string{"Selfevals-Run": "run_1", "Selfevals-Iteration": "2"}},
		{"subject\n\nbody text\n\nSelfevals-Run: run_1", map[string]string{"Selfevals-Run": "run_1"}},
		{"subject\n\nSelfevals-Run: run_1\nnot a trailer\n", nil},
		{"subject\n\nSelfevals-Run: run_1\nSelfevals-Run: run_2\n", map[string]string{"Selfevals-Run": "run_1"}},
		{"subject\n\nNote: first line\n  continued\nSelfevals-Run: r\n", map[string]string{"Note": "first line continued", "Selfevals-Run": "r"}},
		{"subject\r\n\r\nSelfevals-Run: run_1\r\n", map[string]string{"Selfevals-Run": "run_1"}},
		{"subject\n\nSelfevals-Run: run_1\n\n\n", map[string]string{"Selfevals-Run": "run_1"}},
	} {
		if diff := cmp.Diff(tc.want, parseTrailers(tc.msg)); diff != "" {
			t.Errorf("parseTrailers(%q) (-want +got):\n%s", tc.msg, diff)
		}
	}
	if got := subject("line one\nline two\n\nbody"); got != "line one line two" {
		t.Errorf("subject = %q", got)
	}
}

func TestResolveAndReadFile(t *testing.T) {
	t.Parallel()
	dir := newRepo(t, map[string]string{"evals/a.txt": "one\n"})
	first := git(t, dir, "rev-parse", "HEAD")
	writeFile(t, dir, "evals/a.txt", "two\n")
	second := commitAll(t, dir, "second")
	git(t, dir, "tag", "-a", "-m", "v1", "v1", first)
	g := open(t, dir)

	for rev, want := range map[string]string{
		"HEAD": second, "main": second, "HEAD~1": first, "v1": first, first[:10]: first, "refs/heads/main": second,
	} {
		got, err := g.ResolveCommit(rev)
		if err != nil || got != want {
			t.Errorf("ResolveCommit(%q) = %s, %v; want %s", rev, got, err, want)
		}
	}
	for _, rev := range []string{"HEAD@{1}", "main@{upstream}", "@{-1}"} {
		if _, err := g.ResolveCommit(rev); err == nil || !strings.Contains(err.Error(), "reflog") {
			t.Errorf("ResolveCommit(%q): err = %v, want a reflog error", rev, err)
		}
	}
	if _, err := g.ResolveCommit("nope"); err == nil || !strings.Contains(err.Error(), `unknown revision "nope"`) {
		t.Errorf("ResolveCommit(nope): err = %v", err)
	}

	if b, err := g.ReadFile("v1", "evals/a.txt"); err != nil || string(b) != "one\n" {
		t.Errorf("ReadFile(v1) = %q, %v", b, err)
	}
	if b, err := g.ReadFile("HEAD", "evals/a.txt"); err != nil || string(b) != "two\n" {
		t.Errorf("ReadFile(HEAD) = %q, %v", b, err)
	}
	if _, err := g.ReadFile("HEAD", "evals/missing.txt"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile of a missing file: err = %v, want fs.ErrNotExist", err)
	}
	if _, err := g.ReadFile("HEAD", "evals"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile of a directory: err = %v, want fs.ErrNotExist", err)
	}
}

// A CI checkout: `git clone --depth=1 --branch feature`. The base branch is
// not there; the error says how to fetch it, and that command works.
func TestResolveShallowClone(t *testing.T) {
	t.Parallel()
	work := newRepo(t, map[string]string{"evals/a.txt": "main\n"})
	git(t, work, "checkout", "-q", "-b", "feature")
	writeFile(t, work, "evals/a.txt", "feature\n")
	commitAll(t, work, "feature change")
	writeFile(t, work, "evals/a.txt", "feature 2\n")
	commitAll(t, work, "feature change 2")
	origin := filepath.Join(t.TempDir(), "origin.git")
	git(t, work, "clone", "-q", "--bare", work, origin)

	clone := filepath.Join(t.TempDir(), "clone")
	git(t, work, "clone", "-q", "--depth=1", "--branch", "feature", "file://"+filepath.ToSlash(origin), clone)
	g := open(t, clone)

	hint := "git fetch --no-tags --depth=1 origin +refs/heads/main:refs/remotes/origin/main"
	for _, rev := range []string{"origin/main", "main", "refs/remotes/origin/main"} {
		_, err := g.ResolveCommit(rev)
		if err == nil || !strings.Contains(err.Error(), hint) {
			t.Errorf("ResolveCommit(%q): err = %v, want the hint %q", rev, err, hint)
		}
	}
	if _, err := g.ResolveCommit("HEAD~1"); err == nil || !strings.Contains(err.Error(), "shallow") {
		t.Errorf("ResolveCommit(HEAD~1): err = %v, want a shallow-clone error", err)
	}
	// History stops at the shallow boundary instead of failing.
	if vs, err := g.FileHistory("HEAD", "evals/a.txt"); err != nil || len(vs) != 1 || string(vs[0].Content) != "feature 2\n" {
		t.Errorf("FileHistory in a shallow clone = %v, %v", vs, err)
	}
	if cs, err := g.Log("HEAD", "", ""); err != nil || len(cs) != 1 {
		t.Errorf("Log in a shallow clone = %v, %v", cs, err)
	}

	git(t, clone, strings.Fields(strings.TrimPrefix(hint, "git "))...)
	if b, err := g.ReadFile("origin/main", "evals/a.txt"); err != nil || string(b) != "main\n" {
		t.Errorf("after the fetch: ReadFile(origin/main) = %q, %v", b, err)
	}
}
