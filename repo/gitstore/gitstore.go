// Package gitstore owns selfevals' use of git: it reads files at any revision,
// walks history, tells whether the work tree is dirty, and commits candidates
// to branches straight from git objects.
//
// Nothing here changes the working tree, the index or HEAD: candidate commits
// are built from blobs and trees, and the branch ref moves by compare-and-swap.
// go-git's Worktree.Status and Worktree.Add are never called (they hash every
// file in the tree and are far too slow on real repositories); Dirty asks the
// git CLI instead. The git CLI also answers what go-git does not implement:
// the clean filter for committed blobs (autocrlf, .gitattributes), config
// includes for the author identity, fetching the blobs a partial clone
// lacks, and blobs over 8 MiB, streamed from `git cat-file` (go-git
// resolves a packed delta whole in memory; see blobs.go). go-git v6 reads
// SHA-1 and SHA-256 repositories alike.
package gitstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	gogit "github.com/go-git/go-git/v6"
)

// ErrNotRepository is returned by Open when the directory is not inside a git
// work tree.
var ErrNotRepository = errors.New("not inside a git work tree")

// Git is a repository opened from a directory inside its work tree.
type Git struct {
	repo *gogit.Repository
	root string
	top  *source // the repository's own objects

	mu         sync.Mutex
	submodules map[string]*source // by path from the root, opened once

	// beforeUpdate, when set, runs between reading the branch tip and moving
	// the ref, so tests can move the branch underneath CommitFiles.
	beforeUpdate func()
}

// Open finds the repository containing dir, walking up parent directories as
// git does. Outside a work tree (or in a bare repository) the error wraps
// ErrNotRepository.
func Open(dir string) (*Git, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, err
	}
	r, err := gogit.PlainOpenWithOptions(abs, &gogit.PlainOpenOptions{
		DetectDotGit: true,
	})
	if errors.Is(err, gogit.ErrRepositoryNotExists) {
		return nil, fmt.Errorf("%s: %w", abs, ErrNotRepository)
	}
	if errors.Is(err, gogit.ErrUnknownExtension) || errors.Is(err, gogit.ErrUnsupportedRepositoryFormatVersion) ||
		errors.Is(err, gogit.ErrUnsupportedExtensionRepositoryFormatVersion) {
		r, err = openRefused(abs, err)
	}
	if errors.Is(err, ErrUnsupportedRepository) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("open git repository at %s: %w", abs, err)
	}
	wt, err := r.Worktree()
	if errors.Is(err, gogit.ErrIsBareRepository) {
		return nil, fmt.Errorf("%s: bare repository: %w", abs, ErrNotRepository)
	}
	if err != nil {
		return nil, fmt.Errorf("open git work tree at %s: %w", abs, err)
	}
	r = streamLargeBlobs(r, wt.Filesystem())
	root := wt.Filesystem().Root()
	return &Git{repo: r, root: root, top: newSource(r.Storer, root, "")}, nil
}

// Root is the absolute path of the work tree's top directory.
func (g *Git) Root() string { return g.root }

// RelPath turns a path of the work tree (absolute or relative to the
// current directory; symlinks resolved) into the slash-separated path git
// names it by, or an error when it is outside the repository.
func (g *Git) RelPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	// Resolve what exists of the path: the file itself may not exist yet.
	dir, base := abs, ""
	for {
		if resolved, err := filepath.EvalSymlinks(dir); err == nil {
			abs = filepath.Join(resolved, base)
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		base = filepath.Join(filepath.Base(dir), base)
		dir = parent
	}
	root := g.root
	if resolved, err := filepath.EvalSymlinks(root); err == nil {
		root = resolved
	}
	rel, err := filepath.Rel(root, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("%s is outside the git repository %s", p, g.root)
	}
	return filepath.ToSlash(rel), nil
}
