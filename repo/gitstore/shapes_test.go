package gitstore

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A SHA-256 repository takes reads, history and candidate commits like any
// other, and git finds nothing wrong with what selfevals wrote.
func TestSHA256Repository(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if out, err := gitErr(dir, "init", "-q", "--object-format=sha256", "-b", "main"); err != nil {
		t.Skipf("this git cannot make SHA-256 repositories: %v\n%s", err, out)
	}
	writeFile(t, dir, specPath, demoSpec)
	first := commitAll(t, dir, "initial")
	writeFile(t, dir, "evals/results/demo/summary.json", "{}\n")
	commitAll(t, dir, "results")
	g := open(t, dir)

	for _, rev := range []string{first[:12], first, "main~1"} {
		if h, err := g.ResolveCommit(rev); err != nil || h != first || len(h) != 64 {
			t.Fatalf("ResolveCommit(%s) = %s, %v; want %s", rev, h, err, first)
		}
	}
	if base, err := g.MergeBase(first, "main"); err != nil || base != first {
		t.Errorf("MergeBase = %s, %v", base, err)
	}
	if b, err := g.ReadFile("HEAD~1", specPath); err != nil || string(b) != demoSpec {
		t.Errorf("ReadFile at HEAD~1: %v", err)
	}
	hist, err := g.FileHistory("main", summaryPath)
	if err != nil || len(hist) != 1 || string(hist[0].Content) != "{}\n" {
		t.Errorf("FileHistory = %v, %v", hist, err)
	}
	c, err := g.CommitFiles("selfevals/demo", map[string][]byte{summaryPath: []byte("{\"kept\": 1}\n")},
		"keep\n\n"+TrailerRun+": run_1")
	if err != nil {
		t.Fatal(err)
	}
	if got := git(t, dir, "rev-parse", "selfevals/demo"); got != c {
		t.Errorf("branch at %s, CommitFiles said %s", got, c)
	}
	if got := git(t, dir, "show", "selfevals/demo:"+summaryPath); got != `{"kept": 1}` {
		t.Errorf("committed summary = %q", got)
	}
	log, err := g.BranchCommits("selfevals/demo", "main")
	if err != nil || len(log) != 1 || log[0].Hash != c {
		t.Errorf("BranchCommits = %v, %v", log, err)
	}
	fsck(t, dir)
	if _, err := g.TreeAt(strings.Repeat("ab", 32)); err == nil || !strings.Contains(err.Error(), "unknown revision") {
		t.Errorf("a 64-digit hash that is not there: %v", err)
	}
}

// submoduleRepo makes a repository whose evals/datasets/shared is a
// submodule with two commits; the superproject records the first at HEAD~1
// and the second at HEAD. It returns the superproject's directory.
func submoduleRepo(t *testing.T) string {
	t.Helper()
	data := newRepo(t, map[string]string{"cases.jsonl": "{\"v\": 1}\n"})
	dir := newRepo(t, map[string]string{"evals/experiments/demo.yaml": "experiment: {}\n"})
	git(t, dir, "-c", "protocol.file.allow=always", "submodule", "add", "-q", "file://"+filepath.ToSlash(data), "evals/datasets/shared")
	commitAll(t, dir, "add the shared dataset")
	writeFile(t, data, "cases.jsonl", "{\"v\": 2}\n")
	commitAll(t, data, "second version")
	git(t, filepath.Join(dir, "evals", "datasets", "shared"), "pull", "-q", "origin", "main")
	commitAll(t, dir, "move the shared dataset on")
	return dir
}

// A dataset directory that is a submodule reads at each revision as the
// submodule commit that revision records, from the submodule's checkout.
func TestTreeReadsASubmodule(t *testing.T) {
	t.Parallel()
	dir := submoduleRepo(t)
	g := open(t, dir)
	for rev, want := range map[string]string{"HEAD": "{\"v\": 2}\n", "HEAD~1": "{\"v\": 1}\n"} {
		tree, err := g.TreeAt(rev)
		if err != nil {
			t.Fatal(err)
		}
		if b, err := fs.ReadFile(tree, "evals/datasets/shared/cases.jsonl"); err != nil || string(b) != want {
			t.Errorf("cases at %s = %q, %v; want %q", rev, b, err, want)
		}
		if entries, err := fs.ReadDir(tree, "evals/datasets/shared"); err != nil || len(entries) != 1 || entries[0].Name() != "cases.jsonl" {
			t.Errorf("the submodule at %s lists as %v, %v", rev, entries, err)
		}
	}

	// A fresh clone has not checked the submodule out: reading inside it
	// names the command that does.
	clone := filepath.Join(t.TempDir(), "clone")
	git(t, dir, "clone", "-q", "file://"+filepath.ToSlash(dir), clone)
	tree, err := open(t, clone).TreeAt("HEAD")
	if err != nil {
		t.Fatal(err)
	}
	_, err = fs.ReadFile(tree, "evals/datasets/shared/cases.jsonl")
	if err == nil || !strings.Contains(err.Error(), "evals/datasets/shared is a submodule that is not checked out") ||
		!strings.HasSuffix(err.Error(), "\n  git submodule update --init evals/datasets/shared") {
		t.Errorf("reading inside a submodule that is not checked out: %v", err)
	}
	git(t, clone, "-c", "protocol.file.allow=always", "submodule", "update", "--init", "-q", "evals/datasets/shared")
	tree, err = open(t, clone).TreeAt("HEAD")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := fs.ReadFile(tree, "evals/datasets/shared/cases.jsonl"); err != nil || string(b) != "{\"v\": 2}\n" {
		t.Errorf("after git submodule update --init: %q, %v", b, err)
	}
}

// A blobless clone (git clone --filter=blob:none) fetches the blobs that
// reads and history need, as git does; when the remote is gone, the error
// gives the command that fetches the blob.
func TestBloblessClone(t *testing.T) {
	t.Parallel()
	dir := newRepo(t, map[string]string{summaryPath: "v1\n"})
	writeFile(t, dir, summaryPath, "v2\n")
	commitAll(t, dir, "second")
	git(t, dir, "config", "uploadpack.allowFilter", "true")
	clone := filepath.Join(t.TempDir(), "clone")
	git(t, dir, "clone", "-q", "--no-checkout", "--filter=blob:none", "file://"+filepath.ToSlash(dir), clone)
	missing := func() string { return git(t, clone, "rev-list", "--objects", "--missing=print", "HEAD") }
	if n := strings.Count(missing(), "?"); n != 2 {
		t.Fatalf("the clone lacks %d blobs, want 2:\n%s", n, missing())
	}
	g := open(t, clone)
	tree, err := g.TreeAt("HEAD~1")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := fs.ReadFile(tree, summaryPath); err != nil || string(b) != "v1\n" {
		t.Errorf("ReadFile at HEAD~1 = %q, %v", b, err)
	}
	if st, err := fs.Stat(tree, summaryPath); err != nil || st.Size() != 3 {
		t.Errorf("Stat = %v, %v", st, err)
	}
	hist, err := g.FileHistory("HEAD", summaryPath)
	if err != nil || len(hist) != 2 || string(hist[0].Content) != "v2\n" || string(hist[1].Content) != "v1\n" {
		t.Errorf("FileHistory = %v, %v", hist, err)
	}
	if n := strings.Count(missing(), "?"); n != 0 {
		t.Errorf("git still lacks %d blobs after the reads:\n%s", n, missing())
	}

	// Offline: a second clone whose remote has gone away.
	gone := filepath.Join(t.TempDir(), "gone")
	git(t, dir, "clone", "-q", "--no-checkout", "--filter=blob:none", "file://"+filepath.ToSlash(dir), gone)
	git(t, gone, "remote", "set-url", "origin", "file://"+filepath.ToSlash(filepath.Join(t.TempDir(), "nothing")))
	blob := git(t, gone, "rev-parse", "HEAD:"+summaryPath)
	_, err = open(t, gone).ReadFile("HEAD", summaryPath)
	if err == nil || !strings.Contains(err.Error(), "is not in this partial clone and fetching it from origin failed") ||
		!strings.HasSuffix(err.Error(), "\n  git fetch origin "+blob) {
		t.Errorf("a blob the remote cannot give: %v", err)
	}
}

// The identity comes from files the config includes: [includeIf
// "gitdir:..."] in the global config, [include] in the repository's.
func TestCommitIdentityFromIncludes(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("GIT_CONFIG_GLOBAL", filepath.Join(home, ".gitconfig"))
	for _, v := range []string{"GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"} {
		t.Setenv(v, "")
	}
	dir := newRepo(t, map[string]string{"README.md": "hi\n"})
	git(t, dir, "config", "--unset", "user.name")
	git(t, dir, "config", "--unset", "user.email")
	work := filepath.Dir(dir)
	writeFile(t, home, "work.gitconfig", "[user]\n\tname = Work Person\n\temail = work@example.com\n")
	writeFile(t, home, ".gitconfig", "[includeIf \"gitdir:"+filepath.ToSlash(work)+"/\"]\n\tpath = "+filepath.ToSlash(filepath.Join(home, "work.gitconfig"))+"\n")
	g := open(t, dir)
	identity := func() string {
		t.Helper()
		if _, err := g.CommitFiles("selfevals/demo", map[string][]byte{"f.txt": []byte(t.Name() + git(t, dir, "rev-parse", "--short", "HEAD"))}, "x"); err != nil {
			t.Fatal(err)
		}
		return git(t, dir, "log", "-1", "--format=%an <%ae>|%cn <%ce>", "selfevals/demo")
	}
	if got := identity(); got != "Work Person <work@example.com>|Work Person <work@example.com>" {
		t.Errorf("identity through the global includeIf = %s", got)
	}

	writeFile(t, dir, "team.gitconfig", "[author]\n\tname = Team Author\n\temail = team@example.com\n")
	git(t, dir, "config", "include.path", "../team.gitconfig")
	if got := identity(); got != "Team Author <team@example.com>|Work Person <work@example.com>" {
		t.Errorf("identity through the repository's include = %s", got)
	}
}

// With core.autocrlf=true (Git for Windows' default) the checkout has CRLF
// line endings. Files selfevals writes with LF leave the tree clean where
// .gitattributes says eol=lf (as selfevals init writes it); elsewhere git
// status lists them (their size changed) but Dirty, comparing contents
// after the clean filter as git add would, does not. A candidate commit of
// a spec read from the checkout stores LF, as git add would, so its diff is
// the changed line only; a path marked -text keeps its bytes.
func TestAutocrlfCheckout(t *testing.T) {
	t.Parallel()
	const result = "{\n  \"cases\": 1\n}\n"
	dir := newRepo(t, map[string]string{
		specPath: demoSpec, summaryPath: result, "evals/other/summary.json": result, "evals/raw.txt": "x\n",
		".gitattributes": "*.txt -text\nevals/results/** text eol=lf\n",
	})
	git(t, dir, "config", "core.autocrlf", "true")
	git(t, dir, "rm", "-q", "--cached", "-r", ".")
	git(t, dir, "reset", "-q", "--hard")
	spec, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(specPath)))
	if err != nil || !strings.Contains(string(spec), "\r\n") {
		t.Fatalf("the checkout has no CRLF: %q, %v", spec, err)
	}
	g := open(t, dir)
	dirty := func(want bool, what string) {
		t.Helper()
		if got, err := g.Dirty(); err != nil || got != want {
			t.Errorf("%s: Dirty() = %v, %v; want %v", what, got, err, want)
		}
	}

	writeFile(t, dir, summaryPath, result)
	if st := git(t, dir, "status", "--porcelain"); st != "" {
		t.Errorf("git status after writing LF where eol=lf:\n%s", st)
	}
	dirty(false, "LF where eol=lf")
	writeFile(t, dir, "evals/other/summary.json", result)
	if st := git(t, dir, "status", "--porcelain"); st != " M evals/other/summary.json" {
		t.Errorf("git status after writing LF over CRLF (git lists it by its size): %q", st)
	}
	dirty(false, "LF over a CRLF checkout")
	writeFile(t, dir, summaryPath, "{\n  \"cases\": 2\n}\n")
	dirty(true, "a real change")

	edited := strings.Replace(string(spec), "temperature: 0.7", "temperature: 0.3", 1)
	_, err = g.CommitFiles("selfevals/demo", map[string][]byte{
		specPath:        []byte(edited),
		"evals/raw.txt": []byte("y\r\n"),
	}, "keep")
	if err != nil {
		t.Fatal(err)
	}
	if blob := git(t, dir, "cat-file", "blob", "selfevals/demo:"+specPath); strings.Contains(blob, "\r") {
		t.Errorf("the committed spec has CR bytes:\n%q", blob)
	}
	if got := git(t, dir, "diff", "--numstat", "main", "selfevals/demo", "--", specPath); got != "1\t1\t"+specPath {
		t.Errorf("the candidate's spec diff: %s", got)
	}
	if blob := git(t, dir, "cat-file", "blob", "selfevals/demo:evals/raw.txt"); blob != "y\r" {
		t.Errorf("a -text path was converted: %q", blob)
	}
	fsck(t, dir)
}

// go-git refuses repositories with extensions it does not know. Those that
// change nothing for selfevals (partialClone, preciousObjects) open anyway;
// reftable refs cannot be read, and the error says how to convert them.
// (git before 2.45 cannot make a reftable repository, so its config says
// so by hand: go-git looks no further.)
func TestOpenRepositoryExtensions(t *testing.T) {
	t.Parallel()
	for _, ext := range []string{"partialclone=origin", "preciousobjects=true"} {
		dir := newRepo(t, map[string]string{specPath: demoSpec})
		key, value, _ := strings.Cut(ext, "=")
		git(t, dir, "config", "core.repositoryformatversion", "1")
		git(t, dir, "config", "extensions."+key, value)
		g, err := Open(filepath.Join(dir, "evals"))
		if err != nil {
			t.Errorf("Open with extensions.%s: %v", ext, err)
			continue
		}
		if b, err := g.ReadFile("HEAD", specPath); err != nil || string(b) != demoSpec || g.Root() != dir {
			t.Errorf("with extensions.%s: root %s, ReadFile: %v", ext, g.Root(), err)
		}
		if _, err := g.CommitFiles("selfevals/demo", map[string][]byte{summaryPath: []byte("{}\n")}, "keep"); err != nil {
			t.Errorf("CommitFiles with extensions.%s: %v", ext, err)
		}
		fsck(t, dir)
	}

	dir := newRepo(t, map[string]string{specPath: demoSpec})
	git(t, dir, "config", "core.repositoryformatversion", "1")
	git(t, dir, "config", "extensions.refstorage", "reftable")
	_, err := Open(dir)
	if !errors.Is(err, ErrUnsupportedRepository) || !strings.Contains(err.Error(), "does not support extensions.refstorage") ||
		!strings.HasSuffix(err.Error(), "convert it with `git refs migrate --ref-format=files` (git 2.46 or later)") {
		t.Errorf("Open of a reftable repository: %v", err)
	}
}

// A submodule checked out at a commit that lacks the one a revision
// records: the error gives the fetch that brings it.
func TestTreeSubmoduleCommitMissing(t *testing.T) {
	t.Parallel()
	dir := submoduleRepo(t)
	recorded := git(t, dir, "rev-parse", "HEAD:evals/datasets/shared")
	clone := filepath.Join(t.TempDir(), "clone")
	git(t, dir, "clone", "-q", "file://"+filepath.ToSlash(dir), clone)
	git(t, clone, "-c", "protocol.file.allow=always", "submodule", "update", "--init", "-q")
	// The submodule's own repository forgets the newest commit.
	sub := filepath.Join(clone, "evals", "datasets", "shared")
	git(t, sub, "checkout", "-q", "--detach", "HEAD~1")
	for _, ref := range strings.Fields(git(t, sub, "for-each-ref", "--format=%(refname)")) {
		git(t, sub, "update-ref", "--no-deref", "-d", ref)
	}
	git(t, sub, "reflog", "expire", "--expire=now", "--all")
	git(t, sub, "gc", "-q", "--prune=now")
	if _, err := gitErr(sub, "cat-file", "-e", recorded); err == nil {
		t.Fatal("the submodule still has the commit")
	}
	tree, err := open(t, clone).TreeAt("HEAD")
	if err != nil {
		t.Fatal(err)
	}
	_, err = fs.ReadFile(tree, "evals/datasets/shared/cases.jsonl")
	if err == nil || !strings.HasSuffix(err.Error(), "submodule evals/datasets/shared does not have commit "+recorded+"; fetch it with:\n  git -C evals/datasets/shared fetch origin "+recorded) {
		t.Errorf("a recorded commit the submodule lacks: %v", err)
	}
	if b, err := fs.ReadFile(mustTree(t, clone, "HEAD~1"), "evals/datasets/shared/cases.jsonl"); err != nil || string(b) != "{\"v\": 1}\n" {
		t.Errorf("the commit it has: %q, %v", b, err)
	}
}

func mustTree(t *testing.T, dir, rev string) *Tree {
	t.Helper()
	tree, err := open(t, dir).TreeAt(rev)
	if err != nil {
		t.Fatal(err)
	}
	return tree
}
