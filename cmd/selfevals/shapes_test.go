package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The repository shapes teams have, each driven through the selfevals
// binary and checked with the git CLI.

// shapeRepo runs selfevals init in a new repository made by initArgs
// (after "git init -q -b main") and commits it.
func shapeRepo(t *testing.T, initArgs ...string) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := t.TempDir()
	cmd := exec.Command("git", append([]string{"init", "-q", "-b", "main"}, initArgs...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("git init %v: %v\n%s", initArgs, err, out)
	}
	mustRun(t, dir, "init")
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "selfevals init")
	return dir
}

// mustRun runs the selfevals binary in dir and returns its output.
func mustRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := selfevals(dir, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("selfevals %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// A SHA-256 repository: run calls the agent, records and commits its
// candidate; candidates, history and diff read it; git fsck finds nothing
// wrong with what selfevals wrote.
func TestShapeSHA256(t *testing.T) {
	t.Parallel()
	dir := shapeRepo(t, "--object-format=sha256")
	out := mustRun(t, dir, "run", "evals/experiments/pingpong.yaml")
	if !strings.Contains(out, "Committed 1 candidate(s) to `selfevals/pingpong`") {
		t.Errorf("run did not commit its candidate:\n%s", out)
	}
	if h := strings.TrimSpace(git(t, dir, "rev-parse", "selfevals/pingpong")); len(h) != 64 {
		t.Errorf("candidate %q is not a SHA-256 commit", h)
	}
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "pingpong results")

	if out := mustRun(t, dir, "candidates", "pingpong"); strings.Count(out, "keep iteration 1") != 1 {
		t.Errorf("candidates:\n%s", out)
	}
	if out := mustRun(t, dir, "history", "pingpong"); !strings.Contains(out, "pass@1 0 ") {
		t.Errorf("history:\n%s", out)
	}
	for _, args := range [][]string{{"HEAD~1", "HEAD"}, {"HEAD~1...HEAD"}} {
		if out := mustRun(t, dir, append([]string{"diff"}, args...)...); !strings.Contains(out, "8 new") {
			t.Errorf("diff %v:\n%s", args, out)
		}
	}
	git(t, dir, "fsck", "--strict")
}

// A dataset directory that is a submodule: diff reads each revision's
// submodule commit from the checkout; in a clone that has not checked it
// out, diff names the command that does.
func TestShapeSubmoduleDataset(t *testing.T) {
	t.Parallel()
	dir := shapeRepo(t)
	data := filepath.Join(t.TempDir(), "data")
	if err := os.Rename(filepath.Join(dir, "evals", "datasets"), data); err != nil {
		t.Fatal(err)
	}
	git(t, data, "init", "-q", "-b", "main")
	git(t, data, "add", "-A")
	git(t, data, "commit", "-q", "-m", "the shared datasets")
	git(t, dir, "rm", "-q", "-r", "--cached", "evals/datasets")
	git(t, dir, "-c", "protocol.file.allow=always", "submodule", "add", "-q", "file://"+filepath.ToSlash(data), "evals/datasets")
	git(t, dir, "commit", "-q", "-m", "datasets from a submodule")

	cases, err := os.ReadFile(filepath.Join(data, "pingpong.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	writeTree(t, data, map[string]string{"pingpong.jsonl": string(cases) + `{"name":"one more","input":{"text":"ping 9"},"expected":{"must_include":["pong"]}}` + "\n"})
	git(t, data, "commit", "-q", "-am", "one more case")
	git(t, filepath.Join(dir, "evals", "datasets"), "pull", "-q", "origin", "main")
	git(t, dir, "commit", "-q", "-am", "move the datasets on")

	d := diffJSON(t, dir, "HEAD~1", "HEAD")
	if len(d.Experiments) != 1 || d.Experiments[0].Dataset == nil || len(d.Experiments[0].Dataset.Added) != 1 ||
		d.Experiments[0].Dataset.CasesA != 8 || len(d.Warnings)+len(d.Experiments[0].Warnings) != 0 {
		t.Errorf("diff across a submodule update: %+v, warnings %v", d.Experiments[0], d.Warnings)
	}

	clone := filepath.Join(t.TempDir(), "clone")
	git(t, dir, "clone", "-q", "file://"+filepath.ToSlash(dir), clone)
	out, _ := selfevals(clone, "diff", "HEAD~1", "HEAD").CombinedOutput()
	if !strings.Contains(string(out), "git submodule update --init evals/datasets") {
		t.Errorf("diff in a clone without the submodule:\n%s", out)
	}
}

// A blobless clone (--filter=blob:none) fetches the blobs diff and history
// read, as git itself does.
func TestShapeBloblessClone(t *testing.T) {
	t.Parallel()
	dir := shapeRepo(t)
	mustRun(t, dir, "run", "evals/experiments/pingpong.yaml", "--no-commit")
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "pingpong results")
	git(t, dir, "config", "uploadpack.allowFilter", "true")
	clone := filepath.Join(t.TempDir(), "clone")
	git(t, dir, "clone", "-q", "--no-checkout", "--filter=blob:none", "file://"+filepath.ToSlash(dir), clone)
	git(t, clone, "checkout", "-q", "main", "--", "evals/experiments") // the results' blobs stay behind
	missing := func() int {
		return strings.Count(git(t, clone, "rev-list", "--objects", "--missing=print", "--all"), "\n?")
	}
	before := missing()
	if before == 0 {
		t.Fatal("the clone has every blob")
	}
	if out := mustRun(t, clone, "diff", "HEAD~1", "HEAD"); !strings.Contains(out, "8 new") {
		t.Errorf("diff in a blobless clone:\n%s", out)
	}
	if out := mustRun(t, clone, "history", "pingpong"); !strings.Contains(out, "pass@1 0 ") {
		t.Errorf("history in a blobless clone:\n%s", out)
	}
	if after := missing(); after >= before {
		t.Errorf("nothing was fetched: %d blobs missing before, %d after", before, after)
	}
}

// A spec that is a symlink to a file elsewhere in the repository reads
// through the link at any revision; one that leaves the repository is
// refused with what to do.
func TestShapeSymlinkedSpec(t *testing.T) {
	t.Parallel()
	dir := shapeRepo(t)
	spec, err := os.ReadFile(filepath.Join(dir, "evals", "experiments", "pingpong.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// Paths in the spec stay relative to where it is named (the link), as
	// when it is read from disk.
	shared := string(spec)
	writeTree(t, dir, map[string]string{"specs/pingpong.yaml": shared})
	link := filepath.Join(dir, "evals", "experiments", "pingpong.yaml")
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../specs/pingpong.yaml", link); err != nil {
		t.Skipf("no symlinks here: %v", err)
	}
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "the spec lives in specs/")
	writeTree(t, dir, map[string]string{"specs/pingpong.yaml": strings.Replace(shared, "level: [0.0, 1.0]", "level: [0.0, 0.5, 1.0]", 1)})
	git(t, dir, "commit", "-q", "-am", "sweep 0.5 too")

	d := diffJSON(t, dir, "HEAD~2", "HEAD~1")
	if len(d.Experiments) != 1 || len(d.Experiments[0].Spec) != 0 || len(d.Warnings)+len(d.Experiments[0].Warnings) != 0 {
		t.Errorf("moving the spec behind a link changed it: %+v, %v", *d.Experiments[0], d.Warnings)
	}
	d = diffJSON(t, dir, "HEAD~1", "HEAD")
	if len(d.Experiments) != 1 || len(d.Experiments[0].Spec) != 1 || !strings.Contains(d.Experiments[0].Spec[0].Path, "search_space") {
		t.Errorf("an edit behind the link: %+v", d.Experiments)
	}

	outside := filepath.Join(t.TempDir(), "elsewhere.yaml")
	writeTree(t, filepath.Dir(outside), map[string]string{"elsewhere.yaml": string(spec)})
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "commit", "-q", "-am", "link out of the repository")
	_, errOut, code := runCLI(t, dir, "diff", "HEAD~1", "HEAD")
	if code != 2 || !strings.Contains(errOut, "evals/experiments/pingpong.yaml: at HEAD it is a symlink to "+outside+", outside the repository") {
		t.Errorf("a link out of the repository: exit %d\n%s", code, errOut)
	}
}

// core.autocrlf=true (Git for Windows' default): the candidate commit stores
// the spec with LF, so merging it changes the parameters lines only, and
// git fsck finds nothing wrong.
func TestShapeAutocrlf(t *testing.T) {
	t.Parallel()
	dir := shapeRepo(t)
	// Without init's evals/.gitattributes (eol=lf), as in a repository that
	// predates it: the checkout then really has CRLF.
	git(t, dir, "rm", "-q", "evals/.gitattributes")
	git(t, dir, "commit", "-qm", "no attributes")
	git(t, dir, "config", "core.autocrlf", "true")
	git(t, dir, "rm", "-q", "-r", "--cached", ".")
	git(t, dir, "reset", "-q", "--hard")
	if b, _ := os.ReadFile(filepath.Join(dir, "evals", "experiments", "pingpong.yaml")); !strings.Contains(string(b), "\r\n") {
		t.Fatal("the checkout has no CRLF line endings")
	}
	mustRun(t, dir, "run", "evals/experiments/pingpong.yaml")
	spec := "evals/experiments/pingpong.yaml"
	if blob := git(t, dir, "cat-file", "blob", "selfevals/pingpong:"+spec); strings.Contains(blob, "\r") {
		t.Error("the candidate's spec was committed with CR bytes")
	}
	// pingpong's spec has no parameters: block: the candidate adds one.
	var changed []string
	for _, l := range strings.Split(git(t, dir, "diff", "-U0", "main", "selfevals/pingpong", "--", spec), "\n") {
		if (strings.HasPrefix(l, "+") || strings.HasPrefix(l, "-")) && !strings.HasPrefix(l, "+++") && !strings.HasPrefix(l, "---") {
			changed = append(changed, l)
		}
	}
	if want := []string{"+  parameters:", "+    model_params:", "+      level: 1.0"}; strings.Join(changed, "\n") != strings.Join(want, "\n") {
		t.Errorf("the candidate's spec diff is more than its parameters:\n%s", strings.Join(changed, "\n"))
	}
	git(t, dir, "fsck", "--strict")
}

// A repository selfevals cannot read (reftable refs, from git 2.45; its
// config says so by hand here) does not stop a run: the agent is called,
// the run is recorded, and the report says why nothing was committed and
// how to convert the repository.
func TestShapeUnreadableRepository(t *testing.T) {
	t.Parallel()
	dir := shapeRepo(t)
	git(t, dir, "config", "core.repositoryformatversion", "1")
	git(t, dir, "config", "extensions.refstorage", "reftable")
	out := mustRun(t, dir, "run", "evals/experiments/pingpong.yaml")
	if !strings.Contains(out, "Nothing was committed: selfevals cannot read this git repository") ||
		!strings.Contains(out, "git refs migrate --ref-format=files") {
		t.Errorf("run in a reftable repository:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "evals", "results", "pingpong", "summary.json")); err != nil {
		t.Errorf("the run wrote no result: %v", err)
	}
}
