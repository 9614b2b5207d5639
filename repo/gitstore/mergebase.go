package gitstore

import "fmt"

// MergeBase returns the full hash of the best common ancestor of the
// commits a and b resolve to, as git merge-base does (the newest, when
// criss-cross merges leave several). In a shallow clone that has not
// fetched it, the error gives the command that does.
func (g *Git) MergeBase(a, b string) (string, error) {
	ca, err := g.commit(a)
	if err != nil {
		return "", err
	}
	cb, err := g.commit(b)
	if err != nil {
		return "", err
	}
	bases, err := ca.MergeBase(cb)
	if err == nil && len(bases) > 0 {
		newest := bases[0]
		for _, c := range bases[1:] {
			if c.Committer.When.After(newest.Committer.When) {
				newest = c
			}
		}
		return newest.Hash.String(), nil
	}
	if g.shallow() {
		return "", fmt.Errorf("where %s and %s meet is not in this shallow clone; fetch their history with:\n  git fetch --unshallow\n(in GitHub Actions: actions/checkout with fetch-depth: 0)", a, b)
	}
	if err != nil {
		return "", fmt.Errorf("find where %s and %s meet: %w", a, b, err)
	}
	return "", fmt.Errorf("%s and %s have no common history: compare them directly with %s %s", a, b, a, b)
}

// IsAncestor reports whether the commit a resolves to is b's or one of its
// ancestors. The error says when history is missing (a shallow clone).
func (g *Git) IsAncestor(a, b string) (bool, error) {
	ca, err := g.commit(a)
	if err != nil {
		return false, err
	}
	cb, err := g.commit(b)
	if err != nil {
		return false, err
	}
	ok, err := ca.IsAncestor(cb)
	if err != nil {
		return false, fmt.Errorf("is %s an ancestor of %s: %w", a, b, err)
	}
	if !ok && g.shallow() {
		// The walk stopped at the clone's edge, not at the root.
		return false, fmt.Errorf("cannot tell whether %s is an ancestor of %s: this clone is shallow", a, b)
	}
	return ok, nil
}
