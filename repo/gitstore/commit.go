package gitstore

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v6/plumbing"
	"github.com/go-git/go-git/v6/plumbing/filemode"
	"github.com/go-git/go-git/v6/plumbing/object"

	"github.com/selfevals/selfevals/repo/internal/fault"
)

// CommitFiles commits files on top of branch and returns the new commit's hash.
// Candidates go through CommitCandidate, which chooses their parent; this is
// the plain form, for files that belong on a branch's tip.
//
// The parent is the branch tip when the branch exists, otherwise HEAD's
// commit. The tree is the parent's tree with each file (a path relative to the
// repository root, with forward slashes) written as a regular-file blob,
// creating directories as needed. Author and committer come from the
// GIT_AUTHOR_*/GIT_COMMITTER_* environment, then author.*/committer.*/user.*
// in the repository's and the global git config, then
// "selfevals <selfevals@localhost>".
//
// The working tree, the index and HEAD are not touched. The branch moves by
// compare-and-swap against the tip read at the start: if something else moved
// it in the meantime, CommitFiles returns a MovedError and leaves it where it
// is (the unreferenced objects it wrote are harmless and git gc removes them).
func (g *Git) CommitFiles(branch string, files map[string][]byte, message string) (string, error) {
	name, err := branchRefName(branch)
	if err != nil {
		return "", err
	}
	old, exists, err := g.readRef(name)
	if err != nil {
		return "", err
	}
	parentHash := old
	if !exists {
		head, err := g.HeadCommit()
		if errors.Is(err, ErrNoCommit) {
			return "", fmt.Errorf("cannot create branch %s: HEAD has no commit yet; commit something first", branch)
		}
		if err != nil {
			return "", err
		}
		parentHash = plumbing.NewHash(head)
	}
	parent, err := g.repo.CommitObject(parentHash)
	if err != nil {
		return "", fmt.Errorf("read parent commit %s: %w", parentHash, err)
	}
	treeHash, err := g.treeWith(parent.TreeHash, files, nil)
	if err != nil {
		return "", err
	}
	commit, err := g.newCommitObject(parentHash, treeHash, message)
	if err != nil {
		return "", err
	}
	if err := g.updateRef(name, commit.Hash, old, subject(message)); err != nil {
		return "", err
	}
	return commit.Hash.String(), nil
}

// treeWith writes the tree base with files and streams written over it.
func (g *Git) treeWith(base plumbing.Hash, files map[string][]byte, streams map[string]Stream) (plumbing.Hash, error) {
	all := make(map[string]Stream, len(files)+len(streams))
	for p, data := range files {
		all[p] = bytesStream(data)
	}
	for p, s := range streams {
		if _, ok := all[p]; ok {
			return plumbing.ZeroHash, fmt.Errorf("file %q is given both as bytes and as a stream", p)
		}
		all[p] = s
	}
	paths := make([]string, 0, len(all))
	for p := range all {
		paths = append(paths, p)
	}
	sort.Strings(paths) // deterministic errors
	edit := newTreeEdit()
	for _, p := range paths {
		if err := edit.add(p, all[p]); err != nil {
			return plumbing.ZeroHash, err
		}
	}
	return g.writeTree(base, edit, "")
}

// newCommitObject writes a commit of tree on parent, by the configured
// identity, now.
func (g *Git) newCommitObject(parent, tree plumbing.Hash, message string) (*object.Commit, error) {
	if !strings.HasSuffix(message, "\n") {
		message += "\n"
	}
	author, committer := g.identities(time.Now())
	commit := &object.Commit{
		Author:       author,
		Committer:    committer,
		Message:      message,
		TreeHash:     tree,
		ParentHashes: []plumbing.Hash{parent},
	}
	hash, err := g.storeObject(commit)
	if err != nil {
		return nil, fmt.Errorf("write commit: %w", err)
	}
	commit.Hash = hash
	if g.beforeUpdate != nil {
		g.beforeUpdate()
	}
	return commit, nil
}

// branchRefName turns "selfevals/x" (or "refs/heads/selfevals/x") into a
// validated branch reference name.
func branchRefName(branch string) (plumbing.ReferenceName, error) {
	short := strings.TrimPrefix(branch, "refs/heads/")
	name := plumbing.NewBranchReferenceName(short)
	if short == "" || short == "HEAD" || strings.Contains(short, "@{") {
		return "", fmt.Errorf("invalid branch name %q", branch)
	}
	if err := name.Validate(); err != nil {
		return "", fmt.Errorf("invalid branch name %q: %w", branch, err)
	}
	return name, nil
}

// ValidBranchName checks a branch name against git's rules, for flags that
// name one.
func ValidBranchName(branch string) error {
	_, err := branchRefName(branch)
	return err
}

// treeEdit is the set of files to write under one directory.
type treeEdit struct {
	files map[string]Stream
	dirs  map[string]*treeEdit
}

func newTreeEdit() *treeEdit {
	return &treeEdit{files: map[string]Stream{}, dirs: map[string]*treeEdit{}}
}

func (e *treeEdit) add(p string, content Stream) error {
	if err := checkPath(p); err != nil {
		return err
	}
	parts := strings.Split(p, "/")
	dir := e
	for i, part := range parts[:len(parts)-1] {
		if _, ok := dir.files[part]; ok {
			return fmt.Errorf("cannot write both %s and %s: one is a file, the other needs it to be a directory", strings.Join(parts[:i+1], "/"), p)
		}
		sub, ok := dir.dirs[part]
		if !ok {
			sub = newTreeEdit()
			dir.dirs[part] = sub
		}
		dir = sub
	}
	last := parts[len(parts)-1]
	if _, ok := dir.dirs[last]; ok {
		return fmt.Errorf("cannot write %s: other files to write need it to be a directory", p)
	}
	dir.files[last] = content
	return nil
}

// checkPath accepts clean, relative, slash-separated paths outside .git.
func checkPath(p string) error {
	switch {
	case p == "":
		return errors.New("empty file path")
	case strings.Contains(p, `\`):
		return fmt.Errorf("file path %q: use forward slashes", p)
	case strings.HasPrefix(p, "/"):
		return fmt.Errorf("file path %q: must be relative to the repository root", p)
	case strings.IndexByte(p, 0) >= 0:
		return fmt.Errorf("file path %q: contains a NUL byte", p)
	}
	for _, part := range strings.Split(p, "/") {
		switch {
		case part == "" || part == "." || part == "..":
			return fmt.Errorf("file path %q: must be clean (no empty, . or .. parts)", p)
		case strings.EqualFold(part, ".git"):
			return fmt.Errorf("file path %q: cannot write inside .git", p)
		}
	}
	return nil
}

// writeTree writes base (a tree hash, or the zero hash for an empty tree)
// with edit applied, and returns the new tree's hash. prefix is the tree's
// path, for error messages.
func (g *Git) writeTree(base plumbing.Hash, edit *treeEdit, prefix string) (plumbing.Hash, error) {
	var entries []object.TreeEntry
	if !base.IsZero() {
		t, err := object.GetTree(g.repo.Storer, base)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("read tree %q: %w", strings.TrimSuffix(prefix, "/"), err)
		}
		entries = append(entries, t.Entries...)
	}
	index := make(map[string]int, len(entries))
	for i, e := range entries {
		index[e.Name] = i
	}

	for name, content := range edit.files {
		h, err := g.writeCleanBlob(prefix+name, content)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("write %s%s: %w", prefix, name, err)
		}
		i, ok := index[name]
		if !ok {
			entries = append(entries, object.TreeEntry{Name: name, Mode: filemode.Regular, Hash: h})
			continue
		}
		if entries[i].Mode == filemode.Dir || entries[i].Mode == filemode.Submodule {
			return plumbing.ZeroHash, fmt.Errorf("cannot write %s%s: it is a directory in the parent commit", prefix, name)
		}
		if entries[i].Mode != filemode.Executable {
			entries[i].Mode = filemode.Regular
		}
		entries[i].Hash = h
	}

	for name, sub := range edit.dirs {
		var subBase plumbing.Hash
		i, ok := index[name]
		if ok {
			if entries[i].Mode != filemode.Dir {
				return plumbing.ZeroHash, fmt.Errorf("cannot write inside %s%s: it is not a directory in the parent commit", prefix, name)
			}
			subBase = entries[i].Hash
		}
		h, err := g.writeTree(subBase, sub, prefix+name+"/")
		if err != nil {
			return plumbing.ZeroHash, err
		}
		if ok {
			entries[i].Hash = h
		} else {
			entries = append(entries, object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: h})
		}
	}

	// Git order: directories compare as if their name ended in "/".
	sort.Sort(object.TreeEntrySorter(entries))
	h, err := g.storeObject(&object.Tree{Entries: entries})
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("write tree %q: %w", strings.TrimSuffix(prefix, "/"), err)
	}
	return h, nil
}

func (g *Git) storeObject(o interface {
	Encode(plumbing.EncodedObject) error
}) (plumbing.Hash, error) {
	obj := g.repo.Storer.NewEncodedObject()
	if err := o.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := fault.Point("write git object"); err != nil {
		return plumbing.ZeroHash, err
	}
	return g.repo.Storer.SetEncodedObject(obj)
}

// Fallback identity when git has none configured.
const (
	defaultName  = "selfevals"
	defaultEmail = "selfevals@localhost"
)

// identities returns the author and committer signatures, resolved the way
// git does: environment, then author.*/committer.*, then user.* (includes
// followed).
func (g *Git) identities(when time.Time) (author, committer object.Signature) {
	cfg := g.identityConfig()
	author = object.Signature{
		Name:  firstNonEmpty(os.Getenv("GIT_AUTHOR_NAME"), cfg["author.name"], cfg["user.name"], defaultName),
		Email: firstNonEmpty(os.Getenv("GIT_AUTHOR_EMAIL"), cfg["author.email"], cfg["user.email"], defaultEmail),
		When:  when,
	}
	committer = object.Signature{
		Name:  firstNonEmpty(os.Getenv("GIT_COMMITTER_NAME"), cfg["committer.name"], cfg["user.name"], defaultName),
		Email: firstNonEmpty(os.Getenv("GIT_COMMITTER_EMAIL"), cfg["committer.email"], cfg["user.email"], defaultEmail),
		When:  when,
	}
	return author, committer
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}
