package gitstore

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Tree is the file tree of one commit, read straight from git objects (no
// checkout). It answers many reads of the same revision without resolving
// it again.
type Tree struct {
	g      *Git
	rev    string
	commit plumbing.Hash
	root   *object.Tree
}

// TreeAt resolves rev to a commit (with ResolveCommit's rules and errors)
// and returns its file tree.
func (g *Git) TreeAt(rev string) (*Tree, error) {
	c, err := g.commit(rev)
	if err != nil {
		return nil, err
	}
	root, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("read the tree of %s: %w", rev, err)
	}
	return &Tree{g: g, rev: rev, commit: c.Hash, root: root}, nil
}

// Commit is the full hash of the commit the tree belongs to.
func (t *Tree) Commit() string { return t.commit.String() }

// ReadFile returns the content of the file at path (relative to the
// repository root, forward slashes). A missing file gives an error that
// wraps fs.ErrNotExist.
func (t *Tree) ReadFile(path string) ([]byte, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	e, err := t.root.FindEntry(path)
	if errors.Is(err, object.ErrEntryNotFound) || errors.Is(err, object.ErrDirectoryNotFound) {
		return nil, fmt.Errorf("%s does not exist at %s: %w", path, t.rev, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s at %s: %w", path, t.rev, err)
	}
	if !e.Mode.IsFile() {
		return nil, fmt.Errorf("%s is not a file at %s: %w", path, t.rev, fs.ErrNotExist)
	}
	data, err := t.g.blob(e.Hash)
	if err != nil {
		return nil, fmt.Errorf("read %s at %s: %w", path, t.rev, err)
	}
	return data, nil
}

// List returns the names of the files and of the directories directly
// under dir (relative to the repository root; "" is the root), each sorted.
// A directory that does not exist at this revision lists as empty.
func (t *Tree) List(dir string) (files, dirs []string, err error) {
	tree := t.root
	dir = strings.Trim(dir, "/")
	if dir != "" && dir != "." {
		if err := checkPath(dir); err != nil {
			return nil, nil, err
		}
		sub, err := t.root.Tree(dir)
		if errors.Is(err, object.ErrDirectoryNotFound) || errors.Is(err, object.ErrEntryNotFound) {
			return nil, nil, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("list %s at %s: %w", dir, t.rev, err)
		}
		tree = sub
	}
	for _, e := range tree.Entries {
		switch {
		case e.Mode == filemode.Dir:
			dirs = append(dirs, e.Name)
		case e.Mode.IsFile():
			files = append(files, e.Name)
		}
	}
	sort.Strings(files)
	sort.Strings(dirs)
	return files, dirs, nil
}
