package gitstore

import (
	"fmt"
	"strings"

	"github.com/go-git/go-git/v6/plumbing"
)

// RefFinding is a problem with one of the refs selfevals writes, and how to
// repair it.
type RefFinding struct {
	Ref     string
	Problem string
	Repair  string
}

// candidateRefRoots are where selfevals writes refs: the candidate
// branches and the refs that keep earlier runs' candidates.
var candidateRefRoots = []string{"refs/heads/selfevals/", CandidateRefPrefix}

// CheckRefs checks the refs selfevals writes: each holds a hash (not cut
// short by a kill), points at a commit the repository has, and no lock
// file is left beside it by a writer that died.
func (g *Git) CheckRefs() ([]RefFinding, error) {
	var out []RefFinding
	fs, err := g.gitFS()
	if err != nil {
		return nil, err
	}
	for _, root := range candidateRefRoots {
		refs, torn, err := g.listRefs(root)
		if err != nil {
			return nil, err
		}
		for _, t := range torn {
			repair := fmt.Sprintf("the next `selfevals run` of the experiment restores it from its reflog; by hand: `git reflog %s`, then `%s`", t.Ref, RestoreRefCommand(t.Ref, "<commit>"))
			if h := g.lastReflogHash(plumbing.ReferenceName(t.Ref)); !h.IsZero() && g.hasCommit(h) {
				repair = fmt.Sprintf("restore it from its reflog: `%s`", RestoreRefCommand(t.Ref, h.String()))
			}
			out = append(out, RefFinding{Ref: t.Ref, Problem: t.Error(), Repair: repair})
		}
		for _, r := range refs {
			if !g.hasCommit(r.Hash) {
				out = append(out, RefFinding{Ref: r.Name.String(), Problem: fmt.Sprintf("points at commit %s, which the repository does not have", r.Hash),
					Repair: fmt.Sprintf("fetch it (`git fetch origin %s`) or delete the ref (`git update-ref -d %s`)", r.Hash, r.Name)})
			}
		}
		err = walkFiles(fs, strings.TrimSuffix(root, "/"), func(p string) error {
			if strings.HasSuffix(p, ".lock") {
				out = append(out, RefFinding{Ref: strings.TrimSuffix(p, ".lock"), Problem: "a lock file was left by a ref update that did not finish",
					Repair: fmt.Sprintf("if no selfevals or git command is running, remove it: `rm \"$(git rev-parse --git-common-dir)/%s\"`", p)})
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
