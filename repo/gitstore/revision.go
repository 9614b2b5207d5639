package gitstore

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/go-git/go-git/v6/plumbing"
	"github.com/go-git/go-git/v6/plumbing/object"
	"github.com/selfevals/selfevals/internal/lazy"
)

// ResolveCommit resolves rev (a branch, tag, remote branch, commit hash or
// prefix, with ~ and ^ suffixes) to a full commit hash.
//
// Reflog syntax (HEAD@{1}, main@{upstream}) is rejected: go-git would silently
// ignore it and answer with a different commit than git. In a shallow clone, a
// revision that does not resolve gets an error with the git command that
// fetches it.
func (g *Git) ResolveCommit(rev string) (string, error) {
	c, err := g.commit(rev)
	if err != nil {
		return "", err
	}
	return c.Hash.String(), nil
}

// ReadFile returns the content of the file at path (relative to the
// repository root, forward slashes) in the commit rev resolves to. A missing
// file gives an error that wraps fs.ErrNotExist.
func (g *Git) ReadFile(rev, path string) ([]byte, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	c, err := g.commit(rev)
	if err != nil {
		return nil, err
	}
	data, ok, err := g.fileAt(c, path)
	if err != nil {
		return nil, fmt.Errorf("read %s at %s: %w", path, rev, err)
	}
	if !ok {
		return nil, fmt.Errorf("%s does not exist at %s: %w", path, rev, fs.ErrNotExist)
	}
	return data, nil
}

// commit resolves rev to a commit object.
func (g *Git) commit(rev string) (*object.Commit, error) {
	if rev == "" {
		return nil, errors.New("empty revision")
	}
	if strings.Contains(rev, "@{") {
		return nil, fmt.Errorf("revision %q: reflog syntax (@{...}) is not supported; name a branch, tag or commit instead", rev)
	}
	if fullHash().MatchString(rev) {
		// go-git v6 takes a full SHA-256 hash for a prefix and finds
		// nothing: a full hash needs no resolving.
		if h, ok := plumbing.FromHex(rev); ok {
			if c, err := g.repo.CommitObject(h); err == nil {
				return c, nil
			}
		}
	}
	h, err := g.repo.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		return nil, g.unresolved(rev, err)
	}
	c, err := g.repo.CommitObject(*h)
	if err != nil {
		return nil, g.unresolved(rev, err)
	}
	return c, nil
}

var (
	fullHash  = lazy.Regexp(`^([0-9a-f]{40}|[0-9a-f]{64})$`) // SHA-1 or SHA-256
	plainName = lazy.Regexp(`^[A-Za-z0-9._/-]+$`)
)

// unresolved explains a revision that does not resolve, with the fetch
// command to run when the clone is shallow (CI checkouts usually are).
func (g *Git) unresolved(rev string, err error) error {
	if !g.shallow() {
		return fmt.Errorf("unknown revision %q: %w", rev, err)
	}
	if fullHash().MatchString(rev) {
		return fmt.Errorf("revision %q is not in this shallow clone; fetch it with:\n  git fetch --no-tags --depth=1 origin %s", rev, rev)
	}
	name := rev
	for _, p := range []string{"refs/remotes/origin/", "origin/", "refs/heads/"} {
		if strings.HasPrefix(name, p) {
			name = strings.TrimPrefix(name, p)
			break
		}
	}
	if name != "" && name != "HEAD" && plainName().MatchString(name) && plumbing.NewBranchReferenceName(name).Validate() == nil {
		return fmt.Errorf("revision %q is not in this shallow clone; fetch it with:\n  git fetch --no-tags --depth=1 origin +refs/heads/%s:refs/remotes/origin/%s\nthen use origin/%s", rev, name, name, name)
	}
	return fmt.Errorf("revision %q is not in this shallow clone (its history was not fetched); fetch more with `git fetch --deepen=<n>` or `git fetch --unshallow`: %w", rev, err)
}

// shallow reports whether the repository is a shallow clone (.git/shallow
// lists commits whose parents were not fetched).
func (g *Git) shallow() bool {
	return len(g.shallowSet()) > 0
}

func (g *Git) shallowSet() map[plumbing.Hash]bool {
	hashes, err := g.repo.Storer.Shallow()
	if err != nil || len(hashes) == 0 {
		return nil
	}
	set := make(map[plumbing.Hash]bool, len(hashes))
	for _, h := range hashes {
		set[h] = true
	}
	return set
}

// entryAt finds the blob at path in c; ok is false when there is no file there.
func entryAt(c *object.Commit, path string) (h plumbing.Hash, ok bool, err error) {
	t, err := c.Tree()
	if err != nil {
		return plumbing.ZeroHash, false, err
	}
	e, err := t.FindEntry(path)
	if errors.Is(err, object.ErrEntryNotFound) || errors.Is(err, object.ErrDirectoryNotFound) {
		return plumbing.ZeroHash, false, nil
	}
	if err != nil {
		return plumbing.ZeroHash, false, err
	}
	if !e.Mode.IsFile() {
		return plumbing.ZeroHash, false, nil
	}
	return e.Hash, true, nil
}

func (g *Git) fileAt(c *object.Commit, path string) ([]byte, bool, error) {
	h, ok, err := entryAt(c, path)
	if err != nil || !ok {
		return nil, ok, err
	}
	data, err := g.blob(h)
	return data, err == nil, err
}

// blob is the content of the blob h, fetched first in a partial clone.
func (g *Git) blob(h plumbing.Hash) ([]byte, error) {
	return g.readBlob(g.top, h)
}
