package gitstore

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/go-git/go-billy/v6"
	"github.com/go-git/go-billy/v6/util"
	"github.com/go-git/go-git/v6/plumbing"

	"github.com/selfevals/selfevals/repo/internal/fault"
)

// Refs are read and written here as git's files backend does, not through
// go-git: go-git truncates a ref file in place (a kill at the wrong moment
// leaves it empty, which git calls a broken repository) and keeps no reflog.
// A ref update takes <ref>.lock, checks the ref still points where the
// caller read it (compare-and-swap), writes and fsyncs the lock file,
// appends a reflog entry and renames the lock over the ref.

// TornRefError is a loose ref file that is empty or does not hold a hash:
// a write to it was cut short.
type TornRefError struct {
	Ref     string // the full ref name, e.g. refs/heads/selfevals/demo
	Content string // what the file holds
}

func (e *TornRefError) Error() string {
	what := "is empty"
	if e.Content != "" {
		what = fmt.Sprintf("holds %q, not a commit hash", e.Content)
	}
	return fmt.Sprintf("ref %s %s (a write to it was cut short)", e.Ref, what)
}

// MovedError is a ref that something else moved between reading it and
// updating it.
type MovedError struct {
	Ref      string
	Was, Now plumbing.Hash // zero: the ref did not exist
}

func (e *MovedError) Error() string {
	return fmt.Sprintf("%s moved while selfevals was updating it (it %s, now %s); it was left as is, try again",
		e.Ref, refState(e.Was, "did not exist", "was at "), refState(e.Now, "is gone", "at "))
}

func refState(h plumbing.Hash, missing, prefix string) string {
	if h.IsZero() {
		return missing
	}
	return prefix + h.String()
}

// gitFS is the repository's git directory as go-git maps it: refs, logs and
// packed-refs go to the common directory of linked work trees.
func (g *Git) gitFS() (billy.Filesystem, error) {
	s, ok := g.repo.Storer.(interface{ Filesystem() billy.Filesystem })
	if !ok {
		return nil, errors.New("this repository's storage has no git directory on disk")
	}
	return s.Filesystem(), nil
}

// readRef returns the commit a ref points to; ok is false when there is no
// such ref. A loose ref wins over packed-refs, as in git.
func (g *Git) readRef(name plumbing.ReferenceName) (h plumbing.Hash, ok bool, err error) {
	fs, err := g.gitFS()
	if err != nil {
		return plumbing.ZeroHash, false, err
	}
	data, err := util.ReadFile(fs, name.String())
	switch {
	case err == nil:
		h, err := parseLooseRef(name, data)
		return h, err == nil, err
	case !notExist(err):
		return plumbing.ZeroHash, false, fmt.Errorf("read ref %s: %w", name, err)
	}
	return g.packedRef(fs, name)
}

// notExist is true for a missing file, and for a path through a file where
// a directory would be (refs/heads/a/b when refs/heads/a is a branch).
func notExist(err error) bool {
	return errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

func parseLooseRef(name plumbing.ReferenceName, data []byte) (plumbing.Hash, error) {
	s := strings.TrimSpace(string(data))
	switch {
	case strings.HasPrefix(s, "ref:"):
		return plumbing.ZeroHash, fmt.Errorf("%s is a symbolic ref (%s); selfevals only writes ordinary refs", name, s)
	case plumbing.IsHash(s):
		return plumbing.NewHash(s), nil
	}
	return plumbing.ZeroHash, &TornRefError{Ref: name.String(), Content: s}
}

// packedRef looks name up in packed-refs.
func (g *Git) packedRef(fs billy.Filesystem, name plumbing.ReferenceName) (plumbing.Hash, bool, error) {
	f, err := fs.Open("packed-refs")
	if notExist(err) {
		return plumbing.ZeroHash, false, nil
	}
	if err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("read packed-refs: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		hash, ref, ok := strings.Cut(sc.Text(), " ")
		if ok && ref == name.String() && plumbing.IsHash(hash) {
			return plumbing.NewHash(hash), true, nil
		}
	}
	return plumbing.ZeroHash, false, sc.Err()
}

// updateRef moves name from old (zero: it must not exist) to new, with a
// reflog entry saying msg.
func (g *Git) updateRef(name plumbing.ReferenceName, newHash, old plumbing.Hash, msg string) error {
	return g.writeRef(name, newHash, old, msg, func() error {
		cur, _, err := g.readRef(name)
		if err != nil {
			return err
		}
		if cur != old {
			return &MovedError{Ref: name.String(), Was: old, Now: cur}
		}
		return nil
	})
}

// writeRef writes name under its lock once check (run while holding the
// lock) agrees. old is what the reflog entry says the ref was.
func (g *Git) writeRef(name plumbing.ReferenceName, newHash, old plumbing.Hash, msg string, check func() error) (err error) {
	fs, err := g.gitFS()
	if err != nil {
		return err
	}
	lockName := name.String() + ".lock"
	f, err := fs.OpenFile(lockName, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if errors.Is(err, os.ErrExist) && g.staleLock(fs, lockName) {
		f, err = fs.OpenFile(lockName, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	}
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s is locked (%s exists): another git command is updating it; if none is running, delete that file and try again", name, lockName)
	}
	if err != nil {
		return fmt.Errorf("lock %s: %w", name, err)
	}
	renamed := false
	defer func() {
		if !renamed {
			f.Close()
			fs.Remove(lockName)
		}
	}()
	if err := check(); err != nil {
		return err
	}
	if err := writeSynced(f, newHash.String()+"\n"); err != nil {
		return fmt.Errorf("write %s: %w", lockName, err)
	}
	if err := g.appendReflog(fs, name, old, newHash, msg); err != nil {
		return err
	}
	if err := fault.Point("update " + name.String()); err != nil {
		return err
	}
	if err := fs.Rename(lockName, name.String()); err != nil {
		return fmt.Errorf("move %s into place: %w", lockName, err)
	}
	renamed = true
	return nil
}

// lockWait is how long a ref lock of selfevals' own may stay before it is
// taken for one a killed writer left: git holds one for milliseconds.
const lockWait = time.Second

// staleLock removes the lock file of one of selfevals' own refs when it
// outlasts lockWait, and says whether it did. Only a run holds such a ref's
// lock, and a run holds the experiment's lock while it does, so a lock
// still there is one a killed run left; git would ask for it to be
// deleted by hand. Locks of other refs are never touched.
func (g *Git) staleLock(fs billy.Filesystem, lockName string) bool {
	own := false
	for _, root := range candidateRefRoots {
		own = own || strings.HasPrefix(lockName, root)
	}
	if !own {
		return false
	}
	for deadline := time.Now().Add(lockWait); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := fs.Lstat(lockName); notExist(err) {
			return true
		}
	}
	return fs.Remove(lockName) == nil
}

// writeSynced writes s, fsyncs and closes f.
func writeSynced(f billy.File, s string) error {
	if _, err := io.WriteString(f, s); err != nil {
		return err
	}
	if sf, ok := f.(interface{ Sync() error }); ok {
		if err := sf.Sync(); err != nil {
			return err
		}
	}
	return f.Close()
}

// appendReflog adds one line to logs/<ref> in git's format:
// "<old> <new> <name> <<email>> <unix time> <zone>\t<message>".
func (g *Git) appendReflog(fs billy.Filesystem, name plumbing.ReferenceName, old, newHash plumbing.Hash, msg string) error {
	_, who := g.identities(time.Now())
	line := fmt.Sprintf("%s %s %s <%s> %d %s\t%s\n", old, newHash, oneLine(who.Name), oneLine(who.Email),
		who.When.Unix(), who.When.Format("-0700"), oneLine(msg))
	p := "logs/" + name.String()
	f, err := fs.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o666)
	if err != nil {
		return fmt.Errorf("open the reflog of %s: %w", name, err)
	}
	if err := writeSynced(f, line); err != nil {
		f.Close()
		return fmt.Errorf("write the reflog of %s: %w", name, err)
	}
	return nil
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// lastReflogHash is the commit the newest reflog entry of name moved it to
// (zero when there is no reflog or it ends with a deletion).
func (g *Git) lastReflogHash(name plumbing.ReferenceName) plumbing.Hash {
	fs, err := g.gitFS()
	if err != nil {
		return plumbing.ZeroHash
	}
	data, err := util.ReadFile(fs, "logs/"+name.String())
	if err != nil {
		return plumbing.ZeroHash
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	fields := strings.Fields(string(lines[len(lines)-1]))
	if len(fields) < 2 || !plumbing.IsHash(fields[1]) {
		return plumbing.ZeroHash
	}
	return plumbing.NewHash(fields[1])
}

// RestoreRefCommand is the shell command that points a torn ref at commit.
// git itself refuses to update a ref whose file is broken ("reference
// broken"), so the file goes first.
func RestoreRefCommand(ref, commit string) string {
	return fmt.Sprintf(`rm "$(git rev-parse --git-common-dir)/%s" && git update-ref %s %s`, ref, ref, commit)
}

// repairRef restores a torn ref to the commit its reflog last recorded.
// Without a usable reflog it changes nothing and says how to repair it by
// hand.
func (g *Git) repairRef(torn *TornRefError) (plumbing.Hash, error) {
	name := plumbing.ReferenceName(torn.Ref)
	h := g.lastReflogHash(name)
	if h.IsZero() || !g.hasCommit(h) {
		return plumbing.ZeroHash, fmt.Errorf("%w, and its reflog cannot restore it; find its last commit with `git fsck --lost-found` (or `git reflog %s`) and restore it with `%s`, or delete the file to start the branch again",
			torn, name.Short(), RestoreRefCommand(name.String(), "<commit>"))
	}
	err := g.writeRef(name, h, plumbing.ZeroHash, "selfevals: restored from the reflog after a torn write", func() error {
		if _, _, err := g.readRef(name); !errors.As(err, new(*TornRefError)) {
			return fmt.Errorf("%s changed while selfevals was repairing it; try again", name)
		}
		return nil
	})
	return h, err
}

func (g *Git) hasCommit(h plumbing.Hash) bool {
	_, err := g.repo.CommitObject(h)
	return err == nil
}

// deleteRef removes a ref (loose and packed) and its reflog, if it still
// points at old.
func (g *Git) deleteRef(name plumbing.ReferenceName, old plumbing.Hash) error {
	cur, ok, err := g.readRef(name)
	if err != nil || !ok {
		return err
	}
	if cur != old {
		return &MovedError{Ref: name.String(), Was: old, Now: cur}
	}
	if err := g.repo.Storer.RemoveReference(name); err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	fs, err := g.gitFS()
	if err != nil {
		return err
	}
	if err := fs.Remove("logs/" + name.String()); err != nil && !notExist(err) {
		return fmt.Errorf("delete the reflog of %s: %w", name, err)
	}
	return nil
}

// namedRef is a ref and the commit it points to.
type namedRef struct {
	Name plumbing.ReferenceName
	Hash plumbing.Hash
}

// listRefs lists the refs whose names start with prefix (which ends in
// "/"), loose and packed, sorted by name. Lock files are skipped (go-git's
// own listing fails on them); torn loose refs are returned apart.
func (g *Git) listRefs(prefix string) ([]namedRef, []*TornRefError, error) {
	fs, err := g.gitFS()
	if err != nil {
		return nil, nil, err
	}
	found := map[plumbing.ReferenceName]plumbing.Hash{}
	if err := g.packedRefs(fs, prefix, found); err != nil {
		return nil, nil, err
	}
	var torn []*TornRefError
	err = walkFiles(fs, strings.TrimSuffix(prefix, "/"), func(p string) error {
		if strings.HasSuffix(p, ".lock") {
			return nil
		}
		data, err := util.ReadFile(fs, p)
		if err != nil {
			return err
		}
		name := plumbing.ReferenceName(p)
		h, err := parseLooseRef(name, data)
		var t *TornRefError
		switch {
		case errors.As(err, &t):
			torn = append(torn, t)
			delete(found, name)
		case err == nil:
			found[name] = h
		}
		return nil // symbolic refs are not candidates
	})
	if err != nil {
		return nil, nil, err
	}
	out := make([]namedRef, 0, len(found))
	for n, h := range found {
		out = append(out, namedRef{n, h})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, torn, nil
}

// packedRefs adds the packed refs under prefix to found.
func (g *Git) packedRefs(fs billy.Filesystem, prefix string, found map[plumbing.ReferenceName]plumbing.Hash) error {
	data, err := util.ReadFile(fs, "packed-refs")
	if notExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read packed-refs: %w", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		hash, ref, ok := strings.Cut(strings.TrimSpace(line), " ")
		if ok && strings.HasPrefix(ref, prefix) && plumbing.IsHash(hash) {
			found[plumbing.ReferenceName(ref)] = plumbing.NewHash(hash)
		}
	}
	return nil
}

// walkFiles calls fn with the path of every file under dir (slash
// separated, as ref names are).
func walkFiles(fs billy.Filesystem, dir string, fn func(string) error) error {
	entries, err := fs.ReadDir(dir)
	if notExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		p := dir + "/" + e.Name()
		if e.IsDir() {
			err = walkFiles(fs, p, fn)
		} else {
			err = fn(p)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
