package gitstore

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v6/plumbing"
	"github.com/go-git/go-git/v6/plumbing/filemode"
	"github.com/go-git/go-git/v6/plumbing/object"
)

// Tree is the file tree of one commit, read straight from git objects (no
// checkout), as an fs.FS whose paths are relative to the repository root.
// It answers many reads of the same revision without resolving it again.
//
// It reads as a checkout of the commit would on disk: symlinks are followed
// inside the tree (one that leads out of it is refused: git stores only its
// text), a submodule is the tree of the commit the revision records, read
// from the submodule's checkout, and every file's modification time is the
// commit's. A Tree is not safe for concurrent use.
type Tree struct {
	g      *Git
	rev    string
	commit plumbing.Hash
	root   *object.Tree
	time   time.Time
}

var (
	_ fs.ReadFileFS = (*Tree)(nil)
	_ fs.ReadDirFS  = (*Tree)(nil)
	_ fs.StatFS     = (*Tree)(nil)
	_ fs.ReadLinkFS = (*Tree)(nil)
)

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
	return &Tree{g: g, rev: rev, commit: c.Hash, root: root, time: c.Committer.When}, nil
}

// Commit is the full hash of the commit the tree belongs to.
func (t *Tree) Commit() string { return t.commit.String() }

// Revision is the revision the tree was asked for ("main", "HEAD~1"). The
// loaders in repo name the tree's files "<revision>:<path>", as git does.
func (t *Tree) Revision() string { return t.rev }

// maxSymlinks bounds the symlinks one lookup follows, as the kernel does,
// so a cycle of links ends.
const maxSymlinks = 40

// entry is a tree entry found by a lookup.
type entry struct {
	name string // the base name; "." for the root
	mode filemode.FileMode
	hash plumbing.Hash
	src  *source // the object database that holds hash
}

func (e entry) isDir() bool { return e.mode == filemode.Dir || e.mode == filemode.Submodule }

// lookup finds name, following the symlinks on the way (and the one it
// names when follow is set).
func (t *Tree) lookup(op, name string, follow bool) (entry, error) {
	if !fs.ValidPath(name) {
		return entry{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	p, hops := name, 0
resolve:
	for {
		e := entry{name: ".", mode: filemode.Dir, hash: t.root.Hash, src: t.g.top}
		if p == "." {
			return e, nil
		}
		dir := t.root
		parts := strings.Split(p, "/")
		for i, part := range parts {
			if e.mode != filemode.Dir {
				return entry{}, t.notExist(op, name) // under a file
			}
			if i > 0 {
				var err error
				if dir, err = object.GetTree(e.src.store, e.hash); err != nil {
					return entry{}, t.failed(op, name, err)
				}
			}
			j := slices.IndexFunc(dir.Entries, func(te object.TreeEntry) bool { return te.Name == part })
			if j < 0 {
				return entry{}, t.notExist(op, name)
			}
			e = entry{name: part, mode: dir.Entries[j].Mode, hash: dir.Entries[j].Hash, src: e.src}
			if e.mode == filemode.Submodule {
				sub, err := t.enterSubmodule(e, strings.Join(parts[:i+1], "/"))
				switch {
				case err == nil:
					e = sub
				case i < len(parts)-1:
					return entry{}, t.failed(op, name, err)
				}
				// A submodule that is not checked out is an empty
				// directory, as on disk; only reading inside it fails.
				continue
			}
			if e.mode != filemode.Symlink || i == len(parts)-1 && !follow {
				continue
			}
			if hops++; hops > maxSymlinks {
				return entry{}, &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("too many levels of symbolic links at %s", t.rev)}
			}
			target, err := t.g.readBlob(e.src, e.hash)
			if err != nil {
				return entry{}, t.failed(op, name, err)
			}
			// A link is relative to its directory; one that is absolute or
			// climbs out of the tree points at nothing the commit holds.
			link := strings.Join(parts[:i+1], "/")
			p = path.Join(strings.Join(parts[:i], "/"), string(target), strings.Join(parts[i+1:], "/"))
			if path.IsAbs(string(target)) || !fs.ValidPath(p) {
				return entry{}, &fs.PathError{Op: op, Path: name, Err: &LinkOutsideError{Link: link, Target: string(target), Rev: t.rev, whole: link == name}}
			}
			continue resolve
		}
		return e, nil
	}
}

// LinkOutsideError is a symlink in a revision's tree that leads out of the
// repository: git stores only the link's text, so there is nothing at the
// revision to read through it.
type LinkOutsideError struct {
	Link   string // the link's path from the repository root
	Target string // what it points to, as written
	Rev    string
	whole  bool // the link is the path looked up, not one of its directories
}

func (e *LinkOutsideError) Error() string {
	what := "it is"
	if !e.whole {
		what = e.Link + " is"
	}
	return fmt.Sprintf("at %s %s a symlink to %s, outside the repository: git keeps only the link, not what it points to; "+
		"move the file into the repository or link to a path inside it", e.Rev, what, e.Target)
}

// enterSubmodule turns the submodule entry e at p into the root of the
// tree of the commit it records.
func (t *Tree) enterSubmodule(e entry, p string) (entry, error) {
	src, tree, err := t.g.submodule(e.src, p, e.hash)
	if err != nil {
		return entry{}, err
	}
	return entry{name: e.name, mode: filemode.Dir, hash: tree, src: src}, nil
}

func (t *Tree) notExist(op, name string) error {
	return &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%w at %s", fs.ErrNotExist, t.rev)}
}

func (t *Tree) failed(op, name string, err error) error {
	return &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("at %s: %w", t.rev, err)}
}

// info describes e, found as name. A file's size is asked of git, its
// blob not read.
func (t *Tree) info(op, name string, e entry) (*fileInfo, error) {
	fi := &fileInfo{name: path.Base(name), time: t.time}
	switch {
	case e.isDir():
		fi.mode = fs.ModeDir | 0o755
		return fi, nil
	case e.mode == filemode.Symlink:
		fi.mode = fs.ModeSymlink | 0o777
	case e.mode == filemode.Executable:
		fi.mode = 0o755
	default:
		fi.mode = 0o644
	}
	st, err := t.g.statBlob(e.src, e.hash)
	if err != nil {
		return nil, t.failed(op, name, err)
	}
	fi.size, fi.inGit = st.size, st.inGit
	return fi, nil
}

// Open opens the file or directory name.
func (t *Tree) Open(name string) (fs.File, error) {
	e, err := t.lookup("open", name, true)
	if err != nil {
		return nil, err
	}
	fi, err := t.info("open", name, e)
	if err != nil {
		return nil, err
	}
	if e.isDir() {
		entries, err := t.entries("open", name, e)
		if err != nil {
			return nil, err
		}
		return &dirFile{info: fi, entries: entries}, nil
	}
	return &file{info: fi, g: t.g, e: e, name: name, rev: t.rev}, nil
}

// ReadFile returns the content of the file name. A missing file, and a
// directory, give an error that wraps fs.ErrNotExist.
func (t *Tree) ReadFile(name string) ([]byte, error) {
	e, err := t.lookup("read", name, true)
	if err != nil {
		return nil, err
	}
	if e.isDir() {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fmt.Errorf("%w at %s: it is a directory", fs.ErrNotExist, t.rev)}
	}
	data, err := t.g.readBlob(e.src, e.hash)
	if err != nil {
		return nil, t.failed("read", name, err)
	}
	return data, nil
}

// ReadDir lists the directory name, sorted by file name.
func (t *Tree) ReadDir(name string) ([]fs.DirEntry, error) {
	e, err := t.lookup("readdir", name, true)
	if err != nil {
		return nil, err
	}
	if !e.isDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	return t.entries("readdir", name, e)
}

// entries are the directory e's entries, sorted by name (git sorts a
// directory as if its name ended in a slash).
func (t *Tree) entries(op, name string, e entry) ([]fs.DirEntry, error) {
	if e.mode == filemode.Submodule {
		return []fs.DirEntry{}, nil // not checked out
	}
	tree, err := object.GetTree(e.src.store, e.hash)
	if err != nil {
		return nil, t.failed(op, name, err)
	}
	out := make([]fs.DirEntry, len(tree.Entries))
	for i, te := range tree.Entries {
		out[i] = &dirEntry{t: t, dir: name, e: entry{name: te.Name, mode: te.Mode, hash: te.Hash, src: e.src}}
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

// Stat describes the file name, following a symlink.
func (t *Tree) Stat(name string) (fs.FileInfo, error) {
	return t.stat("stat", name, true)
}

// Lstat describes the file name without following it if it is a symlink.
func (t *Tree) Lstat(name string) (fs.FileInfo, error) {
	return t.stat("lstat", name, false)
}

func (t *Tree) stat(op, name string, follow bool) (fs.FileInfo, error) {
	e, err := t.lookup(op, name, follow)
	if err != nil {
		return nil, err
	}
	return t.info(op, name, e)
}

// ReadLink returns the target of the symlink name, as written.
func (t *Tree) ReadLink(name string) (string, error) {
	e, err := t.lookup("readlink", name, false)
	if err != nil {
		return "", err
	}
	if e.mode != filemode.Symlink {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	target, err := t.g.readBlob(e.src, e.hash)
	if err != nil {
		return "", t.failed("readlink", name, err)
	}
	return string(target), nil
}

type fileInfo struct {
	name  string
	size  int64
	inGit bool // git gave the size: it can print the blob
	mode  fs.FileMode
	time  time.Time
}

func (fi *fileInfo) Name() string       { return fi.name }
func (fi *fileInfo) Size() int64        { return fi.size }
func (fi *fileInfo) Mode() fs.FileMode  { return fi.mode }
func (fi *fileInfo) ModTime() time.Time { return fi.time }
func (fi *fileInfo) IsDir() bool        { return fi.mode.IsDir() }
func (fi *fileInfo) Sys() any           { return nil }

// dirEntry is an entry of a directory listing; its info is read when asked
// for (a file's size is in its blob's header).
type dirEntry struct {
	t   *Tree
	dir string
	e   entry
}

func (d *dirEntry) Name() string   { return d.e.name }
func (d *dirEntry) IsDir() bool    { return d.e.isDir() }
func (d *dirEntry) String() string { return fs.FormatDirEntry(d) }

func (d *dirEntry) Type() fs.FileMode {
	switch {
	case d.e.isDir():
		return fs.ModeDir
	case d.e.mode == filemode.Symlink:
		return fs.ModeSymlink
	}
	return 0
}

func (d *dirEntry) Info() (fs.FileInfo, error) {
	return d.t.info("stat", path.Join(d.dir, d.e.name), d.e)
}

// file is an open file; its blob is read as it is read.
type file struct {
	info   *fileInfo
	g      *Git
	e      entry
	name   string
	rev    string
	r      io.ReadCloser
	closed bool
}

func (f *file) Stat() (fs.FileInfo, error) { return f.info, nil }

func (f *file) Read(b []byte) (int, error) {
	if f.closed {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: fs.ErrClosed}
	}
	if f.r == nil {
		r, err := f.g.openBlob(f.e.src, f.e.hash, blobStat{size: f.info.size, inGit: f.info.inGit})
		if err != nil {
			return 0, &fs.PathError{Op: "read", Path: f.name, Err: fmt.Errorf("at %s: %w", f.rev, err)}
		}
		f.r = r
	}
	return f.r.Read(b)
}

func (f *file) Close() error {
	if f.closed {
		return &fs.PathError{Op: "close", Path: f.name, Err: fs.ErrClosed}
	}
	f.closed = true
	if f.r != nil {
		return f.r.Close()
	}
	return nil
}

// dirFile is an open directory.
type dirFile struct {
	info    *fileInfo
	entries []fs.DirEntry
	offset  int
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.info, nil }

func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: errors.New("is a directory")}
}

func (d *dirFile) Close() error { return nil }

// ReadDir returns the next n entries (all that are left when n <= 0).
func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	left := d.entries[d.offset:]
	if n > 0 && len(left) == 0 {
		return nil, io.EOF
	}
	if n > 0 && len(left) > n {
		left = left[:n]
	}
	d.offset += len(left)
	return slices.Clone(left), nil
}
