package gitstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	gogit "github.com/go-git/go-git/v6"
	"github.com/go-git/go-git/v6/plumbing"
	"github.com/go-git/go-git/v6/plumbing/object"
	"github.com/go-git/go-git/v6/plumbing/storer"
)

// source is an object database a tree is read from: the repository's own,
// or the checkout of one of its submodules.
type source struct {
	store storer.EncodedObjectStorer
	dir   string // the work tree's absolute path, where the git CLI runs for it
	path  string // the work tree's path from the repository root; "" for the top

	sizes *sizer // blob sizes from the git CLI

	promisorOnce sync.Once
	promisor     string // promisorRemote(dir), asked once
}

// promisorRemote is the remote src fetches missing objects from, or "".
func (src *source) promisorRemote() string {
	src.promisorOnce.Do(func() { src.promisor = promisorRemote(src.dir) })
	return src.promisor
}

// fetchTimeout bounds fetching one missing object from a partial clone's
// remote.
const fetchTimeout = 2 * time.Minute

// getBlob reads the blob h from src. In a partial clone (git clone
// --filter=blob:none) a blob that was not fetched is fetched from the
// promisor remote by the git CLI, as git itself does on checkout.
func (g *Git) getBlob(src *source, h plumbing.Hash) (*object.Blob, error) {
	b, err := object.GetBlob(src.store, h)
	if !errors.Is(err, plumbing.ErrObjectNotFound) {
		return b, err
	}
	data, ferr := lazyFetch(src, h)
	if ferr != nil {
		return nil, ferr
	}
	if data == nil {
		return nil, fmt.Errorf("blob %s: %w", h, err)
	}
	obj := src.store.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	obj.SetSize(int64(len(data)))
	w, err := obj.Writer()
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if b, err = object.DecodeBlob(obj); err != nil {
		return nil, err
	}
	b.Hash = h
	return b, nil
}

// readBlob is the content of the blob h in src, read into one buffer of
// its size (a large blob is not resolved in memory first).
func (g *Git) readBlob(src *source, h plumbing.Hash) ([]byte, error) {
	st, err := g.statBlob(src, h)
	if err != nil {
		return nil, err
	}
	r, err := g.openBlob(src, h, st)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	// Read into a slice of the blob's size: a bytes.Buffer grown to it
	// still doubled when its last 512 bytes came (ReadFrom's MinRead),
	// holding two copies of a large blob at once.
	data := make([]byte, st.size)
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, fmt.Errorf("blob %s: %w", h, err)
	}
	// Read to the end, so a reader that checks how it ended (git's exit
	// status) says so.
	switch n, err := r.Read(make([]byte, 1)); {
	case n > 0:
		return nil, fmt.Errorf("blob %s: longer than its size, %d bytes", h, st.size)
	case err != nil && err != io.EOF:
		return nil, err
	}
	return data, nil
}

// lazyFetch asks git for the blob h in a partial clone, which fetches it
// from the promisor remote. It returns nil, nil when src is not a partial
// clone (the object is simply missing), and an error with the command to
// run when the fetch fails (offline, say).
func lazyFetch(src *source, h plumbing.Hash) ([]byte, error) {
	return askFetching(src, h, "blob")
}

// lazySize is the size of the blob h in a partial clone, which git
// fetches to answer (git then has it, to print as a stream); -1 when src
// is not a partial clone. Its errors are lazyFetch's.
func lazySize(src *source, h plumbing.Hash) (int64, error) {
	out, err := askFetching(src, h, "-s")
	if err != nil || out == nil {
		return -1, err
	}
	return strconv.ParseInt(string(bytes.TrimSpace(out)), 10, 64)
}

// askFetching runs `git cat-file <what> h` in a partial clone, where git
// fetches the object it lacks, and returns what git printed.
func askFetching(src *source, h plumbing.Hash, what string) ([]byte, error) {
	remote := src.promisorRemote()
	if remote == "" {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", "-C", src.dir, "cat-file", what, h.String())
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err == nil {
		return out, nil
	}
	c := "git fetch " + remote + " " + h.String()
	if src.path != "" {
		c = "git -C " + src.path + " fetch " + remote + " " + h.String()
	}
	why := strings.TrimSpace(stderr.String())
	if why == "" {
		why = err.Error()
	}
	return nil, fmt.Errorf("blob %s is not in this partial clone and fetching it from %s failed (%s); fetch it with:\n  %s", h, remote, firstLine(why), c)
}

// promisorRemote is the remote a partial clone fetches missing objects
// from, or "" when dir is not a partial clone. Git records it as
// remote.<name>.promisor (and, before 2.24 or in other tools' clones,
// extensions.partialClone).
func promisorRemote(dir string) string {
	out, _ := exec.Command("git", "-C", dir, "config", "--get-regexp", `^(remote\..*\.promisor|extensions\.partialclone)$`).Output()
	for _, line := range strings.Split(string(out), "\n") {
		key, value, _ := strings.Cut(line, " ")
		switch {
		case strings.EqualFold(key, "extensions.partialclone"):
			return value
		case strings.HasPrefix(key, "remote.") && value == "true":
			return strings.TrimSuffix(strings.TrimPrefix(key, "remote."), ".promisor")
		}
	}
	return ""
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// submodule opens the checkout of the submodule at p (a path from the
// repository root) and returns its source and the tree of its commit c. A
// submodule that is not checked out, or lacks c, gives the command that
// brings it.
func (g *Git) submodule(parent *source, p string, c plumbing.Hash) (*source, plumbing.Hash, error) {
	src, err := g.openSubmodule(parent, p)
	if err != nil {
		return nil, plumbing.ZeroHash, err
	}
	commit, err := object.GetCommit(src.store, c)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return nil, plumbing.ZeroHash, fmt.Errorf("submodule %s does not have commit %s; fetch it with:\n  git -C %s fetch origin %s", p, c, p, c)
	}
	if err != nil {
		return nil, plumbing.ZeroHash, fmt.Errorf("submodule %s: read commit %s: %w", p, c, err)
	}
	return src, commit.TreeHash, nil
}

// openSubmodule opens (once) the submodule checked out at p.
func (g *Git) openSubmodule(parent *source, p string) (*source, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if src, ok := g.submodules[p]; ok {
		return src, nil
	}
	dir := filepath.Join(g.root, filepath.FromSlash(p))
	r, err := gogit.PlainOpen(dir)
	if err != nil {
		init := "git submodule update --init " + p
		if parent.path != "" {
			init = "git -C " + parent.path + " submodule update --init " + strings.TrimPrefix(p, parent.path+"/")
		}
		return nil, fmt.Errorf("%s is a submodule that is not checked out; check it out with:\n  %s", p, init)
	}
	src := newSource(r.Storer, dir, p)
	if g.submodules == nil {
		g.submodules = map[string]*source{}
	}
	g.submodules[p] = src
	return src, nil
}
