package gitstore

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"

	"github.com/go-git/go-billy/v6"
	"github.com/go-git/go-billy/v6/osfs"
	gogit "github.com/go-git/go-git/v6"
	"github.com/go-git/go-git/v6/plumbing/cache"
	"github.com/go-git/go-git/v6/storage/filesystem"
	"github.com/go-git/go-git/v6/storage/filesystem/dotgit"
	"github.com/selfevals/selfevals/internal/lazy"
)

// ErrUnsupportedRepository is returned by Open for a repository git can
// use but selfevals cannot read (a ref storage or extension go-git does not
// implement). Its message names what and how to convert; a run goes on
// without committing candidates.
var ErrUnsupportedRepository = errors.New("selfevals cannot read this git repository")

// readSafeExtensions are repository extensions go-git refuses but that
// change nothing for what selfevals does: partialClone names the remote a
// partial clone fetches from (missing blobs are fetched through git), and
// preciousObjects forbids deleting objects (selfevals only adds them).
var readSafeExtensions = map[string]bool{"partialclone": true, "preciousobjects": true}

var unknownExtensions = lazy.Regexp(`unknown extension: (.+)$`)

// openRefused explains or works around go-git refusing to open the
// repository at abs: it opens again, accepting the read-safe extensions,
// or returns an error wrapping ErrUnsupportedRepository.
func openRefused(abs string, err error) (*gogit.Repository, error) {
	var exts []string
	if m := unknownExtensions().FindStringSubmatch(err.Error()); m != nil {
		exts = strings.Split(m[1], ", ")
	}
	safe := len(exts) > 0
	for _, e := range exts {
		safe = safe && readSafeExtensions[e]
	}
	if safe {
		if r, oerr := openTolerant(abs); oerr == nil {
			return r, nil
		}
	}
	what := "its format"
	if len(exts) > 0 {
		what = "extensions." + strings.Join(exts, ", extensions.")
	}
	fix := "run selfevals in a clone that does without it"
	if slices.Contains(exts, "refstorage") {
		fix = "convert it with `git refs migrate --ref-format=files` (git 2.46 or later)"
	}
	return nil, fmt.Errorf("%w at %s: go-git, through which it reads git, does not support %s (%v); %s", ErrUnsupportedRepository, abs, what, err, fix)
}

// tolerantStorage is the repository's storage, saying yes to the
// read-safe extensions besides those go-git knows.
type tolerantStorage struct {
	*filesystem.Storage
}

func (s tolerantStorage) SupportsExtension(name, value string) bool {
	return readSafeExtensions[name] || s.Storage.SupportsExtension(name, value)
}

// openTolerant opens the repository containing abs with git's own idea of
// its directories (linked work trees included) and tolerantStorage.
func openTolerant(abs string) (*gogit.Repository, error) {
	out, err := exec.Command("git", "-C", abs, "rev-parse", "--path-format=absolute",
		"--show-toplevel", "--absolute-git-dir", "--git-common-dir").Output()
	if err != nil {
		return nil, err
	}
	dirs := strings.Split(string(bytes.TrimSpace(out)), "\n")
	if len(dirs) != 3 {
		return nil, fmt.Errorf("git rev-parse printed %q", out)
	}
	fs := dotgit.NewRepositoryFilesystem(osfs.New(dirs[1], osfs.WithBoundOS()), osfs.New(dirs[2], osfs.WithBoundOS()))
	st := filesystem.NewStorageWithOptions(fs, cache.NewObjectLRUDefault(), filesystem.Options{LargeObjectThreshold: largeBlob})
	return gogit.Open(tolerantStorage{st}, osfs.New(dirs[0], osfs.WithBoundOS()))
}

// largeBlob is the size from which a blob is read from disk as it is read,
// not whole into memory first (go-git's default for every object): a
// dataset or cases.jsonl of tens of megabytes, which diff reads at two
// revisions. go-git honours it for loose objects only; with the git CLI
// such blobs are read through it (blobs.go).
const largeBlob = 8 << 20

// streamLargeBlobs reopens r on a storage of the same repository files that
// streams blobs over largeBlob; r as it is when its storage is another.
func streamLargeBlobs(r *gogit.Repository, wt billy.Filesystem) *gogit.Repository {
	st, ok := r.Storer.(*filesystem.Storage)
	if !ok {
		return r
	}
	s := filesystem.NewStorageWithOptions(st.Filesystem(), cache.NewObjectLRUDefault(), filesystem.Options{LargeObjectThreshold: largeBlob})
	streamed, err := gogit.Open(s, wt)
	if err != nil {
		return r
	}
	_ = st.Close()
	return streamed
}
