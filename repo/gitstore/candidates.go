package gitstore

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/go-git/go-git/v6/plumbing"
	"github.com/go-git/go-git/v6/plumbing/object"
)

// Candidate commits are built on the commit a run ran (its base): the first
// kept candidate of a run has the base as parent, each next one the
// previous. The branch (selfevals/<slug>) points at the newest run's
// candidates; when it moves to a line that does not contain its old tip,
// the old tip is kept under CandidateRefPrefix/<slug>/<run-id> first, so no
// candidate becomes unreachable.

// CandidateRefPrefix is the ref namespace that keeps earlier runs'
// candidates reachable.
const CandidateRefPrefix = "refs/selfevals/candidates/"

// ErrNoCommit is returned by HeadCommit when HEAD's branch has no commit
// yet (a fresh git init).
var ErrNoCommit = errors.New("nothing committed yet")

// HeadCommit is the commit HEAD points to.
func (g *Git) HeadCommit() (string, error) {
	head, err := g.repo.Head()
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return "", ErrNoCommit
	}
	if err != nil {
		return "", fmt.Errorf("read HEAD: %w", err)
	}
	return head.Hash().String(), nil
}

// ForeignBranchError is a candidate branch whose tip selfevals did not
// make (it has no Selfevals-Run trailer): it is someone's own branch.
type ForeignBranchError struct {
	Branch string
	Tip    string
}

func (e *ForeignBranchError) Error() string {
	return fmt.Sprintf("branch %s was not created by selfevals (its tip %.12s has no %s trailer)", e.Branch, e.Tip, TrailerRun)
}

// CandidateCommit is one kept candidate to commit.
type CandidateCommit struct {
	Branch string // the branch the run's candidates go on, e.g. selfevals/demo
	Slug   string // names the refs that keep earlier runs' candidates
	// Parent is the commit the run ran (for its first candidate) or its
	// previous candidate.
	Parent string
	// Files are written over the parent's tree (paths relative to the
	// repository root, forward slashes).
	Files map[string][]byte
	// Streams are files written like Files from a Stream, without holding
	// them in memory: those that grow with the number of cases.
	Streams map[string]Stream
	// Message ends with the Selfevals-Run and Selfevals-Iteration trailers.
	Message string
}

// CandidateResult says what CommitCandidate did.
type CandidateResult struct {
	Hash string
	// Reused: a commit with the same parent and tree was already there (an
	// identical rerun); ReusedRun is the run that made it.
	Reused    bool
	ReusedRun string
	// Kept are the refs written to keep earlier runs' candidates reachable.
	Kept []string
	// Repaired is set when the branch ref was torn and was restored from
	// its reflog first.
	Repaired string
}

// CommitCandidate commits c.Files and c.Streams on c.Parent and points c.Branch at the
// result, unless an identical commit (same parent, same tree) already sits
// on the branch or under the candidate refs, which is then reused.
//
// A branch whose tip has no Selfevals-Run trailer is left alone
// (ForeignBranchError). A torn branch ref is restored from its reflog. The
// branch moves by compare-and-swap (MovedError when something else moved
// it). The working tree, the index and HEAD are not touched.
func (g *Git) CommitCandidate(c CandidateCommit) (CandidateResult, error) {
	var res CandidateResult
	name, err := branchRefName(c.Branch)
	if err != nil {
		return res, err
	}
	parent, err := g.commit(c.Parent)
	if err != nil {
		return res, fmt.Errorf("the commit the run ran: %w", err)
	}
	tree, err := g.treeWith(parent.TreeHash, c.Files, c.Streams)
	if err != nil {
		return res, err
	}
	tip, err := g.candidateTip(name, &res)
	if err != nil {
		return res, err
	}
	found, onBranch, err := g.findCandidate(tip, c.Slug, parent.Hash, tree)
	if err != nil {
		return res, err
	}
	if found != nil {
		res.Hash, res.Reused = found.Hash.String(), true
		res.ReusedRun, _ = newCommit(found).Trailer(TrailerRun)
		if onBranch {
			return res, nil // the branch already holds it
		}
		return res, g.moveCandidateBranch(name, c.Slug, tip, found, &res)
	}
	commit, err := g.newCommitObject(parent.Hash, tree, c.Message)
	if err != nil {
		return res, err
	}
	res.Hash = commit.Hash.String()
	return res, g.moveCandidateBranch(name, c.Slug, tip, commit, &res)
}

// PointCandidates points branch back at hash, one of its own candidates,
// when a run ended on a candidate that an identical earlier run had
// already followed with more: the branch then shows the newest run's
// candidates, and the earlier run's further ones are kept. Nothing
// happens when the branch is already there or no longer contains hash.
func (g *Git) PointCandidates(branch, slug, hash string) (CandidateResult, error) {
	res := CandidateResult{Hash: hash}
	name, err := branchRefName(branch)
	if err != nil {
		return res, err
	}
	tip, err := g.candidateTip(name, &res)
	if err != nil || tip == nil || tip.Hash.String() == hash {
		return res, err
	}
	chain, err := g.candidateChain(tip)
	if err != nil {
		return res, err
	}
	for _, c := range chain {
		if c.Hash.String() == hash {
			return res, g.moveCandidateBranch(name, slug, tip, c, &res)
		}
	}
	return res, nil
}

// candidateTip reads the branch's tip (nil when there is no branch),
// restoring a torn ref from its reflog and refusing a branch selfevals did
// not make.
func (g *Git) candidateTip(name plumbing.ReferenceName, res *CandidateResult) (*object.Commit, error) {
	h, ok, err := g.readRef(name)
	var torn *TornRefError
	if errors.As(err, &torn) {
		if h, err = g.repairRef(torn); err == nil {
			ok = true
			res.Repaired = fmt.Sprintf("%s was torn (%v); it was restored from its reflog to %.12s", name.Short(), torn, h)
		}
	}
	if err != nil || !ok {
		return nil, err
	}
	tip, err := g.repo.CommitObject(h)
	if err != nil {
		return nil, fmt.Errorf("read the tip of %s: %w", name.Short(), err)
	}
	if !isCandidate(tip) {
		return nil, &ForeignBranchError{Branch: name.Short(), Tip: h.String()}
	}
	return tip, nil
}

func isCandidate(c *object.Commit) bool {
	_, ok := newCommit(c).Trailer(TrailerRun)
	return ok && len(c.ParentHashes) == 1
}

// candidateChain is c and its first parents while they are candidates,
// newest first: one run's kept candidates, down to (not including) the
// commit the run ran.
func (g *Git) candidateChain(c *object.Commit) ([]*object.Commit, error) {
	var out []*object.Commit
	for c != nil && isCandidate(c) {
		out = append(out, c)
		var err error
		if c, err = g.firstParent(c); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// findCandidate looks for a candidate with this parent and tree on the
// branch (tip may be nil) and then under the slug's candidate refs.
func (g *Git) findCandidate(tip *object.Commit, slug string, parent, tree plumbing.Hash) (c *object.Commit, onBranch bool, err error) {
	match := func(chain []*object.Commit) *object.Commit {
		for _, c := range chain {
			if c.ParentHashes[0] == parent && c.TreeHash == tree {
				return c
			}
		}
		return nil
	}
	chain, err := g.candidateChain(tip)
	if err != nil {
		return nil, false, err
	}
	if c := match(chain); c != nil {
		return c, true, nil
	}
	kept, err := g.keptRefs(slug)
	if err != nil {
		return nil, false, err
	}
	for _, r := range kept {
		k, err := g.repo.CommitObject(r.Hash)
		if err != nil {
			continue // a kept ref to a missing commit holds nothing to reuse
		}
		chain, err := g.candidateChain(k)
		if err != nil {
			return nil, false, err
		}
		if c := match(chain); c != nil {
			return c, false, nil
		}
	}
	return nil, false, nil
}

// moveCandidateBranch points the branch at c. An old tip that c does not
// contain is kept under the candidate refs first; kept refs that c now
// contains are dropped, as the branch keeps them reachable.
func (g *Git) moveCandidateBranch(name plumbing.ReferenceName, slug string, tip, c *object.Commit, res *CandidateResult) error {
	chain, err := g.candidateChain(c)
	if err != nil {
		return err
	}
	contains := map[plumbing.Hash]bool{}
	for _, x := range chain {
		contains[x.Hash] = true
	}
	old := plumbing.ZeroHash
	if tip != nil {
		old = tip.Hash
		if !contains[tip.Hash] {
			ref, err := g.keepCandidates(slug, tip)
			if err != nil {
				return err
			}
			if ref != "" {
				res.Kept = append(res.Kept, ref)
			}
		}
	}
	msg := subject(c.Message)
	if err := g.updateRef(name, c.Hash, old, msg); err != nil {
		return err
	}
	return g.dropContainedKeptRefs(slug, contains)
}

// keepCandidates makes a ref under CandidateRefPrefix/<slug>/ for tip,
// named after its run; "" when such a ref already contains it.
func (g *Git) keepCandidates(slug string, tip *object.Commit) (string, error) {
	run, _ := newCommit(tip).Trailer(TrailerRun)
	base := CandidateRefPrefix + slug + "/" + refSafe(run)
	for i := 1; ; i++ {
		name := plumbing.ReferenceName(base)
		if i > 1 {
			name = plumbing.ReferenceName(fmt.Sprintf("%s-%d", base, i))
		}
		if err := name.Validate(); err != nil {
			return "", fmt.Errorf("cannot keep the candidates of %s under %s: %w", run, name, err)
		}
		h, ok, err := g.readRef(name)
		if err != nil {
			return "", err
		}
		if !ok {
			return name.String(), g.updateRef(name, tip.Hash, plumbing.ZeroHash, "selfevals: keep the candidates of "+run)
		}
		if k, err := g.repo.CommitObject(h); err == nil {
			chain, err := g.candidateChain(k)
			if err != nil {
				return "", err
			}
			for _, x := range chain {
				if x.Hash == tip.Hash {
					return "", nil
				}
			}
		}
	}
}

// refSafe turns a run ID into a ref name component (run IDs are plain
// already; this guards against a hand-written trailer).
func refSafe(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < '!' || r > '~' || strings.ContainsRune(`~^:?*[\/`, r) {
			return '-'
		}
		return r
	}, s)
	s = strings.ReplaceAll(strings.Trim(s, ".-"), "..", "-")
	if s == "" || strings.HasSuffix(s, ".lock") || strings.Contains(s, "@{") {
		return "unnamed"
	}
	return s
}

// keptRefs are the slug's refs under CandidateRefPrefix (every slug's
// when empty), sorted by name. A torn one holds nothing to reuse or list;
// `selfevals candidates` reports it.
func (g *Git) keptRefs(slug string) ([]namedRef, error) {
	prefix := CandidateRefPrefix
	if slug != "" {
		prefix += slug + "/"
	}
	refs, _, err := g.listRefs(prefix)
	return refs, err
}

func (g *Git) dropContainedKeptRefs(slug string, contains map[plumbing.Hash]bool) error {
	kept, err := g.keptRefs(slug)
	if err != nil {
		return err
	}
	for _, r := range kept {
		if contains[r.Hash] {
			if err := g.deleteRef(r.Name, r.Hash); err != nil {
				return err
			}
		}
	}
	return nil
}

// CandidateLine is a branch or kept ref of candidates with the ones HEAD
// has not merged, newest first.
type CandidateLine struct {
	Ref     string // the branch's short name, or a full kept ref name
	Current bool   // the branch: the newest run's candidates
	Commits []Commit
}

// Candidates lists the candidates of slug (all slugs when empty) that HEAD
// has not merged: the branch's first (branch names the current one), then
// those kept from earlier runs that the branch does not contain.
func (g *Git) Candidates(slug, branch string) ([]CandidateLine, error) {
	var out []CandidateLine
	onBranch := map[string]bool{}
	if branch != "" {
		line, err := g.candidateLine(branch, true)
		if err != nil {
			return nil, err
		}
		for _, c := range line.Commits {
			onBranch[c.Hash] = true
		}
		if len(line.Commits) > 0 {
			out = append(out, line)
		}
	}
	kept, torn, err := g.listRefs(CandidateRefPrefix + slug + "/")
	if err != nil {
		return nil, err
	}
	if len(torn) > 0 {
		return nil, tornHint(torn[0])
	}
	for _, r := range kept {
		line, err := g.candidateLine(r.Name.String(), false)
		if err != nil {
			return nil, err
		}
		line.Commits = dropSeen(line.Commits, onBranch)
		if len(line.Commits) > 0 {
			out = append(out, line)
		}
	}
	return out, nil
}

func (g *Git) candidateLine(ref string, current bool) (CandidateLine, error) {
	line := CandidateLine{Ref: ref, Current: current}
	rev := ref
	if current {
		name, err := branchRefName(ref)
		if err != nil {
			return line, err
		}
		_, ok, err := g.readRef(name)
		var torn *TornRefError
		if errors.As(err, &torn) {
			return line, tornHint(torn)
		}
		if err != nil || !ok {
			return line, err
		}
		rev = name.String()
	}
	tip, err := g.commit(rev)
	if err != nil {
		return line, err
	}
	chain, err := g.candidateChain(tip)
	if err != nil {
		return line, err
	}
	merged, err := g.mergedIntoHead(tip)
	if err != nil {
		return line, err
	}
	for _, c := range chain {
		if merged[c.Hash] {
			break
		}
		line.Commits = append(line.Commits, newCommit(c))
	}
	return line, nil
}

// mergedIntoHead is the set of merge bases of c and HEAD: walking down
// from c, the first of them ends what HEAD has not merged.
func (g *Git) mergedIntoHead(c *object.Commit) (map[plumbing.Hash]bool, error) {
	head, err := g.repo.Head()
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	hc, err := g.repo.CommitObject(head.Hash())
	if err != nil {
		return nil, err
	}
	bases, err := c.MergeBase(hc)
	if err != nil {
		return nil, err
	}
	out := map[plumbing.Hash]bool{}
	for _, b := range bases {
		out[b.Hash] = true
	}
	return out, nil
}

func dropSeen(cs []Commit, seen map[string]bool) []Commit {
	var out []Commit
	for _, c := range cs {
		if !seen[c.Hash] {
			out = append(out, c)
		}
	}
	return out
}

// CandidateSlugs are the experiments with candidates: those with a
// selfevals/<slug> branch or refs kept under CandidateRefPrefix, sorted.
func (g *Git) CandidateSlugs() ([]string, error) {
	const branchPrefix = "refs/heads/selfevals/"
	branches, _, err := g.listRefs(branchPrefix)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, b := range branches {
		seen[strings.TrimPrefix(b.Name.String(), branchPrefix)] = true
	}
	kept, err := g.keptRefs("")
	if err != nil {
		return nil, err
	}
	for _, r := range kept {
		rest := strings.TrimPrefix(r.Name.String(), CandidateRefPrefix)
		if i := strings.LastIndex(rest, "/"); i > 0 {
			seen[rest[:i]] = true
		}
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	sort.Strings(out)
	return out, nil
}

// tornHint says how to repair a torn ref found while only reading.
func tornHint(t *TornRefError) error {
	return fmt.Errorf("%w; the next `selfevals run` of the experiment restores it from its reflog, or see `git reflog %s` and restore it with `%s`",
		t, t.Ref, RestoreRefCommand(t.Ref, "<commit>"))
}
