package gitstore

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-git/go-git/v6/plumbing"
	"github.com/go-git/go-git/v6/plumbing/object"
	"github.com/selfevals/selfevals/internal/lazy"
)

// Trailers selfevals writes on candidate commits.
const (
	TrailerRun       = "Selfevals-Run"
	TrailerIteration = "Selfevals-Iteration"
)

// Commit is one commit as history listings show it.
type Commit struct {
	Hash    string
	Subject string    // the first paragraph of the message, on one line
	Time    time.Time // author time, as git log shows it
	// Trailers are the "Key: value" lines of the message's last paragraph,
	// keys as written (the first of repeated keys wins).
	Trailers map[string]string
}

// Trailer returns the value of the trailer key, matched case-insensitively as
// git does.
func (c Commit) Trailer(key string) (string, bool) {
	if v, ok := c.Trailers[key]; ok {
		return v, true
	}
	for k, v := range c.Trailers {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return "", false
}

// Log lists the commits on the first-parent line from rev, newest first.
// With stopAt, it stops at the first commit that is also reachable from
// stopAt (as `git log stopAt..rev` does for a linear branch). With trailer, it
// keeps only commits whose message has that trailer.
func (g *Git) Log(rev, stopAt, trailer string) ([]Commit, error) {
	start, err := g.commit(rev)
	if err != nil {
		return nil, err
	}
	stop := map[plumbing.Hash]bool{}
	if stopAt != "" {
		sc, err := g.commit(stopAt)
		if err != nil {
			return nil, err
		}
		bases, err := start.MergeBase(sc)
		if err != nil {
			return nil, fmt.Errorf("find where %s and %s meet: %w", rev, stopAt, err)
		}
		for _, b := range bases {
			stop[b.Hash] = true
		}
	}
	var out []Commit
	err = g.walkFirstParent(start, func(c *object.Commit) bool {
		if stop[c.Hash] {
			return false
		}
		lc := newCommit(c)
		if trailer == "" {
			out = append(out, lc)
		} else if _, ok := lc.Trailer(trailer); ok {
			out = append(out, lc)
		}
		return true
	})
	return out, err
}

// BranchCommits lists the selfevals commits (those with a Selfevals-Run
// trailer) on branch, newest first, stopping where the branch meets stopAt
// when given (pass "HEAD" to list only what merging the branch would bring).
func (g *Git) BranchCommits(branch, stopAt string) ([]Commit, error) {
	name, err := branchRefName(branch)
	if err != nil {
		return nil, err
	}
	return g.Log(name.String(), stopAt, TrailerRun)
}

// Branches lists the local branches whose names start with prefix (e.g.
// "selfevals/"), sorted, as short names. Loose refs that a crash left torn
// are not branches.
func (g *Git) Branches(prefix string) ([]string, error) {
	refs, _, err := g.listRefs("refs/heads/")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range refs {
		if n := r.Name.Short(); strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return out, nil
}

// FileVersion is a file's content as of a commit that changed it; Content is
// nil when the commit deleted the file.
type FileVersion struct {
	Commit  Commit
	Content []byte
}

// FileHistory walks the first-parent line from rev and returns, newest first,
// each commit where the file at path was added, changed or deleted, with its
// content there. In a shallow clone the oldest fetched commit counts as adding
// the file.
func (g *Git) FileHistory(rev, path string) ([]FileVersion, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	c, err := g.commit(rev)
	if err != nil {
		return nil, err
	}
	cur, curOK, err := entryAt(c, path)
	if err != nil {
		return nil, err
	}
	var out []FileVersion
	for c != nil {
		parent, err := g.firstParent(c)
		if err != nil {
			return nil, err
		}
		var prev plumbing.Hash
		var prevOK bool
		if parent != nil {
			if prev, prevOK, err = entryAt(parent, path); err != nil {
				return nil, err
			}
		}
		if curOK != prevOK || cur != prev {
			v := FileVersion{Commit: newCommit(c)}
			if curOK {
				if v.Content, err = g.blob(cur); err != nil {
					return nil, fmt.Errorf("read %s at %s: %w", path, c.Hash, err)
				}
			}
			out = append(out, v)
		}
		c, cur, curOK = parent, prev, prevOK
	}
	return out, nil
}

// walkFirstParent calls fn from c down its first parents until fn returns
// false or the history (or a shallow clone's fetched part of it) ends.
func (g *Git) walkFirstParent(c *object.Commit, fn func(*object.Commit) bool) error {
	for c != nil {
		if !fn(c) {
			return nil
		}
		var err error
		if c, err = g.firstParent(c); err != nil {
			return err
		}
	}
	return nil
}

// firstParent returns c's first parent, or nil at a root commit or at the
// boundary of a shallow clone.
func (g *Git) firstParent(c *object.Commit) (*object.Commit, error) {
	if len(c.ParentHashes) == 0 {
		return nil, nil
	}
	p, err := g.repo.CommitObject(c.ParentHashes[0])
	if errors.Is(err, plumbing.ErrObjectNotFound) && g.shallowSet()[c.Hash] {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read parent of %s: %w", c.Hash, err)
	}
	return p, nil
}

func newCommit(c *object.Commit) Commit {
	return Commit{
		Hash:     c.Hash.String(),
		Subject:  subject(c.Message),
		Time:     c.Author.When,
		Trailers: parseTrailers(c.Message),
	}
}

// subject is the message's first paragraph joined into one line, like %s.
func subject(msg string) string {
	var parts []string
	for _, line := range strings.Split(strings.TrimLeft(msg, "\n"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			break
		}
		parts = append(parts, line)
	}
	return strings.Join(parts, " ")
}

var trailerLine = lazy.Regexp(`^([A-Za-z0-9][A-Za-z0-9-]*)[ \t]*:[ \t]*(.*)$`)

// parseTrailers reads the message's last paragraph as trailers when every
// line in it is a "Key: value" line or an indented continuation line. The
// subject paragraph is never a trailer block.
func parseTrailers(msg string) map[string]string {
	lines := strings.Split(strings.Trim(msg, " \t\r\n"), "\n")
	last := -1
	for i := range lines {
		lines[i] = strings.TrimRight(lines[i], " \t\r")
		if lines[i] == "" {
			last = i
		}
	}
	if last < 0 {
		return nil
	}
	out := map[string]string{}
	var key string
	drop := false
	for _, l := range lines[last+1:] {
		if strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t") {
			if key == "" {
				return nil
			}
			if !drop {
				out[key] += " " + strings.TrimSpace(l)
			}
			continue
		}
		m := trailerLine().FindStringSubmatch(l)
		if m == nil {
			return nil
		}
		key = m[1]
		_, drop = out[key] // the first of repeated keys wins
		if !drop {
			out[key] = m[2]
		}
	}
	return out
}
