package gitstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	branchDemo  = "selfevals/demo"
	datasetPath = "evals/datasets/demo.jsonl"
	keptPrefix  = CandidateRefPrefix + "demo/"
)

func dataset(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"name":"case %d","input":{"text":"ping"}}`+"\n", i)
	}
	return b.String()
}

// commitCandidate commits iteration it of run on parent, writing summary
// into the candidate's summary.json.
func commitCandidate(t *testing.T, g *Git, parent, run string, it int, summary string) CandidateResult {
	t.Helper()
	res, err := g.CommitCandidate(candidateOf(parent, run, it, summary))
	if err != nil {
		t.Fatalf("CommitCandidate(%s iteration %d): %v", run, it, err)
	}
	return res
}

func candidateOf(parent, run string, it int, summary string) CandidateCommit {
	return CandidateCommit{
		Branch: branchDemo, Slug: "demo", Parent: parent,
		Files:   map[string][]byte{summaryPath: []byte(summary + "\n")},
		Message: fmt.Sprintf("selfevals(demo): keep iteration %d\n\nwhy\n\n%s: %s\n%s: %d\n", it, TrailerRun, run, TrailerIteration, it),
	}
}

// lines turns Candidates' answer into "ref current: hash hash …".
func lines(t *testing.T, g *Git) []string {
	t.Helper()
	ls, err := g.Candidates("demo", branchDemo)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range ls {
		s := fmt.Sprintf("%s %v:", l.Ref, l.Current)
		for _, c := range l.Commits {
			s += " " + c.Hash
		}
		out = append(out, s)
	}
	return out
}

// A branch left by a run on an older commit: the next run's candidates go
// on the commit it ran (with that commit's dataset), chain on each other,
// and the older run's candidates stay reachable and listed. Merging the
// branch fast-forwards, or merges cleanly after another commit on main.
func TestCandidatesOnTheCommitThatWasRun(t *testing.T) {
	t.Parallel()
	dir := newRepo(t, map[string]string{specPath: demoSpec, datasetPath: dataset(6)})
	g := open(t, dir)
	base1 := git(t, dir, "rev-parse", "HEAD")
	r1a := commitCandidate(t, g, base1, "run_1", 1, "1a")
	r1b := commitCandidate(t, g, r1a.Hash, "run_1", 2, "1b")
	if got := git(t, dir, "rev-parse", branchDemo+"~1", branchDemo+"~2"); got != r1a.Hash+"\n"+base1 {
		t.Errorf("run 1's chain: %s", got)
	}

	writeFile(t, dir, datasetPath, dataset(9))
	base2 := commitAll(t, dir, "nine cases")
	r2a := commitCandidate(t, g, base2, "run_2", 1, "2a")
	if want := []string{keptPrefix + "run_1"}; !cmp.Equal(r2a.Kept, want) {
		t.Errorf("Kept = %v, want %v", r2a.Kept, want)
	}
	r2b := commitCandidate(t, g, r2a.Hash, "run_2", 2, "2b")
	if r2b.Reused || len(r2b.Kept) != 0 {
		t.Errorf("second candidate of run 2: %+v", r2b)
	}
	if got := git(t, dir, "rev-parse", branchDemo+"~2"); got != base2 {
		t.Errorf("run 2's candidates sit on %s, want the commit run, %s", got, base2)
	}
	if got := git(t, dir, "show", branchDemo+":"+datasetPath); strings.Count(got, "\n")+1 != 9 {
		t.Errorf("the candidate carries the old dataset:\n%s", got)
	}
	if got := git(t, dir, "rev-parse", keptPrefix+"run_1"); got != r1b.Hash {
		t.Errorf("run 1 kept at %s, want %s", got, r1b.Hash)
	}
	want := []string{
		branchDemo + " true: " + r2b.Hash + " " + r2a.Hash,
		keptPrefix + "run_1 false: " + r1b.Hash + " " + r1a.Hash,
	}
	if diff := cmp.Diff(want, lines(t, g)); diff != "" {
		t.Errorf("Candidates (-want +got):\n%s", diff)
	}
	fsck(t, dir)

	// Git sees the reflog entries.
	if got := git(t, dir, "log", "-g", "--format=%gs|%gn <%ge>", branchDemo); got !=
		"selfevals(demo): keep iteration 2|Test User <test@example.com>\n"+
			"selfevals(demo): keep iteration 1|Test User <test@example.com>\n"+
			"selfevals(demo): keep iteration 2|Test User <test@example.com>\n"+
			"selfevals(demo): keep iteration 1|Test User <test@example.com>" {
		t.Errorf("reflog of the branch:\n%s", got)
	}
	if got := git(t, dir, "reflog", "show", "--format=%H %gs", keptPrefix+"run_1"); got != r1b.Hash+" selfevals: keep the candidates of run_1" {
		t.Errorf("reflog of the kept ref:\n%s", got)
	}

	// A fast-forward in a clone; a clean merge after another commit on main.
	clone := filepath.Join(t.TempDir(), "clone")
	git(t, dir, "clone", "-q", dir, clone)
	git(t, clone, "merge", "-q", "--ff-only", "origin/"+branchDemo)
	writeFile(t, dir, "other.txt", "someone else's change\n")
	commitAll(t, dir, "another change on main")
	git(t, dir, "merge", "-q", "--no-edit", branchDemo)
	if got := git(t, dir, "show", "HEAD:"+summaryPath); got != "2b" {
		t.Errorf("merged summary = %q", got)
	}
	if got := git(t, dir, "status", "--porcelain"); got != "" {
		t.Errorf("status after the merge: %s", got)
	}
	want = []string{keptPrefix + "run_1 false: " + r1b.Hash + " " + r1a.Hash}
	if diff := cmp.Diff(want, lines(t, g)); diff != "" {
		t.Errorf("Candidates after merging the branch (-want +got):\n%s", diff)
	}
	fsck(t, dir)
}

// An identical rerun from the same commit writes no commit and moves no
// ref; a rerun that differs keeps the earlier candidates; a later rerun
// identical to the first reuses them from where they were kept.
func TestCandidateRerunAddsNothing(t *testing.T) {
	t.Parallel()
	dir := newRepo(t, map[string]string{"README.md": "hi\n"})
	g := open(t, dir)
	base := git(t, dir, "rev-parse", "HEAD")
	c1 := commitCandidate(t, g, base, "run_1", 1, "a")
	c2 := commitCandidate(t, g, c1.Hash, "run_1", 2, "b")
	state := func() string {
		return git(t, dir, "for-each-ref") + "\n" + git(t, dir, "count-objects") + "\n" + git(t, dir, "reflog", "show", "--all")
	}
	before := state()

	r1 := commitCandidate(t, g, base, "run_2", 1, "a")
	r2 := commitCandidate(t, g, r1.Hash, "run_2", 2, "b")
	for i, r := range []struct {
		got  CandidateResult
		want string
	}{{r1, c1.Hash}, {r2, c2.Hash}} {
		if !r.got.Reused || r.got.ReusedRun != "run_1" || r.got.Hash != r.want || len(r.got.Kept) != 0 {
			t.Errorf("rerun candidate %d: %+v, want reuse of %s", i+1, r.got, r.want)
		}
	}
	if after := state(); after != before {
		t.Errorf("an identical rerun changed refs, objects or reflogs:\n%s", cmp.Diff(before, after))
	}

	// Run 3 keeps the same first candidate and a different second one.
	d1 := commitCandidate(t, g, base, "run_3", 1, "a")
	d2 := commitCandidate(t, g, d1.Hash, "run_3", 2, "c")
	if d1.Hash != c1.Hash || d2.Reused || !cmp.Equal(d2.Kept, []string{keptPrefix + "run_1"}) {
		t.Errorf("run 3: %+v, %+v", d1, d2)
	}
	if got := git(t, dir, "rev-parse", branchDemo+"~1", keptPrefix+"run_1"); got != c1.Hash+"\n"+c2.Hash {
		t.Errorf("after run 3: %s", got)
	}

	// Run 4 is run 1 again, with every ref packed: its second candidate
	// comes back from the kept ref, run 3's is kept, and the ref that kept
	// run 1's is dropped (the branch holds it again).
	git(t, dir, "pack-refs", "--all")
	e1 := commitCandidate(t, g, base, "run_4", 1, "a")
	e2 := commitCandidate(t, g, e1.Hash, "run_4", 2, "b")
	if e2.Hash != c2.Hash || !e2.Reused || !cmp.Equal(e2.Kept, []string{keptPrefix + "run_3"}) {
		t.Errorf("run 4: %+v", e2)
	}
	want := c2.Hash + " refs/heads/" + branchDemo + "\n" + d2.Hash + " " + keptPrefix + "run_3"
	if got := git(t, dir, "show-ref", branchDemo, keptPrefix+"run_1", keptPrefix+"run_3"); got != want {
		t.Errorf("refs after run 4:\n%s\nwant\n%s", got, want)
	}
	if _, err := gitErr(dir, "reflog", "exists", keptPrefix+"run_1"); err == nil {
		t.Error("the dropped kept ref's reflog is still there")
	}
	fsck(t, dir)
}

// A branch of that name that selfevals did not make is left alone.
func TestCandidateForeignBranch(t *testing.T) {
	t.Parallel()
	dir := newRepo(t, map[string]string{"README.md": "hi\n"})
	g := open(t, dir)
	base := git(t, dir, "rev-parse", "HEAD")
	git(t, dir, "branch", branchDemo)
	_, err := g.CommitCandidate(candidateOf(base, "run_1", 1, "a"))
	var foreign *ForeignBranchError
	if !errors.As(err, &foreign) || foreign.Branch != branchDemo || foreign.Tip != base {
		t.Fatalf("err = %v, want a ForeignBranchError", err)
	}

	// A hand-made commit on top of a candidate makes the branch someone's.
	git(t, dir, "branch", "-D", branchDemo)
	commitCandidate(t, g, base, "run_1", 1, "a")
	git(t, dir, "checkout", "-q", branchDemo)
	writeFile(t, dir, "mine.txt", "mine\n")
	mine := commitAll(t, dir, "my own work")
	git(t, dir, "checkout", "-q", "main")
	if _, err := g.CommitCandidate(candidateOf(base, "run_2", 1, "b")); !errors.As(err, &foreign) {
		t.Fatalf("err = %v, want a ForeignBranchError", err)
	}
	if got := git(t, dir, "rev-parse", branchDemo); got != mine {
		t.Errorf("the branch moved to %s", got)
	}
	if got := git(t, dir, "for-each-ref", CandidateRefPrefix); got != "" {
		t.Errorf("refs written: %s", got)
	}
}

// A ref file emptied or cut short by a crash is restored from its reflog,
// never restarted from HEAD; without a reflog it is reported with the
// commands to repair it.
func TestCandidateTornRef(t *testing.T) {
	t.Parallel()
	for _, torn := range []string{"", "3a4b\n"} {
		dir := newRepo(t, map[string]string{"README.md": "hi\n"})
		g := open(t, dir)
		base := git(t, dir, "rev-parse", "HEAD")
		c1 := commitCandidate(t, g, base, "run_1", 1, "a")
		refFile := filepath.Join(dir, ".git", "refs", "heads", "selfevals", "demo")
		if err := os.WriteFile(refFile, []byte(torn), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := gitErr(dir, "rev-parse", "--verify", "-q", branchDemo); err == nil {
			t.Fatal("setup: git still reads the torn ref")
		}

		// Listing only reads: it says how to repair.
		if _, err := g.Candidates("demo", branchDemo); err == nil || !strings.Contains(err.Error(), "the next `selfevals run`") ||
			!strings.Contains(err.Error(), "git update-ref refs/heads/selfevals/demo <commit>") {
			t.Errorf("Candidates with a torn branch: err = %v", err)
		}

		c2 := commitCandidate(t, g, c1.Hash, "run_1", 2, "b")
		if !strings.Contains(c2.Repaired, "restored from its reflog to "+c1.Hash[:12]) {
			t.Errorf("Repaired = %q", c2.Repaired)
		}
		if got := git(t, dir, "rev-parse", branchDemo, branchDemo+"~1"); got != c2.Hash+"\n"+c1.Hash {
			t.Errorf("branch after the repair: %s", got)
		}
		if got := git(t, dir, "log", "-g", "--format=%gs", branchDemo); !strings.Contains(got, "restored from the reflog") {
			t.Errorf("reflog:\n%s", got)
		}
		fsck(t, dir)

		// No reflog to restore from: reported, and the file left as it is.
		os.Remove(filepath.Join(dir, ".git", "logs", "refs", "heads", "selfevals", "demo"))
		os.WriteFile(refFile, []byte(torn), 0o644)
		_, err := g.CommitCandidate(candidateOf(c2.Hash, "run_1", 3, "c"))
		if err == nil || !strings.Contains(err.Error(), "git update-ref refs/heads/selfevals/demo <commit>") {
			t.Errorf("err = %v, want the command that repairs it", err)
		}
		if b, _ := os.ReadFile(refFile); string(b) != torn {
			t.Errorf("the torn ref was rewritten to %q", b)
		}
	}
}

// A lock on the candidate branch: one that another git command releases
// within lockWait is waited for; one that stays was left by a killed run
// (only a run, holding the experiment's lock, updates this ref) and is
// removed, so the update goes through instead of failing until someone
// deletes the file by hand.
func TestCandidateRefLocked(t *testing.T) {
	t.Parallel()
	dir := newRepo(t, map[string]string{"README.md": "hi\n"})
	g := open(t, dir)
	base := git(t, dir, "rev-parse", "HEAD")
	c1 := commitCandidate(t, g, base, "run_1", 1, "a")
	lock := filepath.Join(dir, ".git", "refs", "heads", "selfevals", "demo.lock")

	writeFile(t, dir, ".git/refs/heads/selfevals/demo.lock", "")
	released := make(chan struct{})
	go func() {
		time.Sleep(lockWait / 4)
		os.Remove(lock)
		close(released)
	}()
	c2, err := g.CommitCandidate(candidateOf(c1.Hash, "run_1", 2, "b"))
	if err != nil {
		t.Fatalf("a lock released in time: %v", err)
	}
	<-released

	writeFile(t, dir, ".git/refs/heads/selfevals/demo.lock", "")
	c3, err := g.CommitCandidate(candidateOf(c2.Hash, "run_1", 3, "c"))
	if err != nil {
		t.Fatalf("a lock a killed run left: %v", err)
	}
	if got := git(t, dir, "rev-parse", branchDemo); got != c3.Hash {
		t.Errorf("branch at %s, want %s", got, c3.Hash)
	}
	if _, err := os.Stat(lock); !os.IsNotExist(err) {
		t.Errorf("the lock file is still there: %v", err)
	}
	git(t, dir, "fsck", "--strict")
}

// The lock of a ref that is not selfevals' own is never removed.
func TestOtherRefLockIsNeverRemoved(t *testing.T) {
	t.Parallel()
	dir := newRepo(t, map[string]string{"README.md": "hi\n"})
	g := open(t, dir)
	fs, err := g.gitFS()
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, ".git/refs/heads/main.lock", "")
	if g.staleLock(fs, "refs/heads/main.lock") {
		t.Error("staleLock took a lock of refs/heads/main")
	}
	if _, err := os.Stat(filepath.Join(dir, ".git/refs/heads/main.lock")); err != nil {
		t.Errorf("someone else's lock file was removed: %v", err)
	}
}

// Something else moving the branch between the read and the update wins.
func TestCandidateBranchMovedMeanwhile(t *testing.T) {
	t.Parallel()
	dir := newRepo(t, map[string]string{"README.md": "hi\n"})
	g := open(t, dir)
	base := git(t, dir, "rev-parse", "HEAD")
	c1 := commitCandidate(t, g, base, "run_1", 1, "a")
	c2 := commitCandidate(t, g, c1.Hash, "run_1", 2, "b")
	g.beforeUpdate = func() { git(t, dir, "update-ref", "refs/heads/"+branchDemo, c1.Hash) }
	_, err := g.CommitCandidate(candidateOf(c2.Hash, "run_1", 3, "c"))
	var moved *MovedError
	if !errors.As(err, &moved) || moved.Was.String() != c2.Hash || moved.Now.String() != c1.Hash {
		t.Fatalf("err = %v, want a MovedError from %s to %s", err, c2.Hash, c1.Hash)
	}
	if got := git(t, dir, "rev-parse", branchDemo); got != c1.Hash {
		t.Errorf("branch at %s, want %s", got, c1.Hash)
	}
	fsck(t, dir)
}

func TestHeadCommitUnborn(t *testing.T) {
	t.Parallel()
	dir := newRepo(t, nil)
	if _, err := open(t, dir).HeadCommit(); !errors.Is(err, ErrNoCommit) {
		t.Errorf("HeadCommit in a fresh repository: err = %v, want ErrNoCommit", err)
	}
}

// A rerun that keeps fewer of the same candidates ends with the branch on
// its own newest one; the earlier run's further candidate is kept.
func TestPointCandidates(t *testing.T) {
	t.Parallel()
	dir := newRepo(t, map[string]string{"README.md": "hi\n"})
	g := open(t, dir)
	base := git(t, dir, "rev-parse", "HEAD")
	c1 := commitCandidate(t, g, base, "run_1", 1, "a")
	c2 := commitCandidate(t, g, c1.Hash, "run_1", 2, "b")
	if r := commitCandidate(t, g, base, "run_2", 1, "a"); r.Hash != c1.Hash || !r.Reused {
		t.Fatalf("rerun: %+v", r)
	}
	res, err := g.PointCandidates(branchDemo, "demo", c1.Hash)
	if err != nil || !cmp.Equal(res.Kept, []string{keptPrefix + "run_1"}) {
		t.Fatalf("PointCandidates = %+v, %v", res, err)
	}
	want := []string{branchDemo + " true: " + c1.Hash, keptPrefix + "run_1 false: " + c2.Hash}
	if diff := cmp.Diff(want, lines(t, g)); diff != "" {
		t.Errorf("Candidates (-want +got):\n%s", diff)
	}
	// Already there, or not on the branch: nothing moves.
	before := git(t, dir, "reflog", "show", "--all")
	for _, h := range []string{c1.Hash, c2.Hash} {
		if res, err := g.PointCandidates(branchDemo, "demo", h); err != nil || len(res.Kept) != 0 {
			t.Errorf("PointCandidates(%s) = %+v, %v", h, res, err)
		}
	}
	if after := git(t, dir, "reflog", "show", "--all"); after != before {
		t.Errorf("refs moved:\n%s", cmp.Diff(before, after))
	}
	fsck(t, dir)
}
