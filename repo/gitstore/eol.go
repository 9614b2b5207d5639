package gitstore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"

	"github.com/go-git/go-git/v6/plumbing"
)

// writeCleanBlob writes the content of s as the blob for path the way `git
// add` would: through git's clean filter, which applies core.autocrlf,
// core.eol and .gitattributes (text, eol). A spec read from a checkout with
// CRLF line endings is thus stored with LF, like the rest of the
// repository, and a candidate's diff is its parameters, not every line.
// Content without CRLF needs no line-ending conversion and is written
// directly, streamed into the object database.
func (g *Git) writeCleanBlob(path string, s Stream) (plumbing.Hash, error) {
	m, err := measure(s)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if !m.crlf {
		return g.writeBlob(s, m)
	}
	h, err := g.hashObject(path, s, m)
	if errors.Is(err, exec.ErrNotFound) {
		return g.writeBlob(s, m) // no git to ask: keep the bytes as they are
	}
	return h, err
}

// hashObject has `git hash-object` store s as the blob for path, through
// the clean filter, reading it from a pipe: git, not this process, holds
// what the filter needs.
func (g *Git) hashObject(path string, s Stream, want shape) (plumbing.Hash, error) {
	cmd := exec.Command("git", "-C", g.root, "hash-object", "-w", "--stdin", "--path="+path)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if err := cmd.Start(); err != nil {
		return plumbing.ZeroHash, err // wraps exec.ErrNotFound when there is no git
	}
	var got shape
	werr := s(io.MultiWriter(&got, stdin))
	cerr := stdin.Close()
	if err := cmd.Wait(); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("git hash-object --path=%s: %w: %s", path, err, bytes.TrimSpace(stderr.Bytes()))
	}
	if err := errors.Join(werr, cerr); err != nil {
		return plumbing.ZeroHash, err
	}
	if !got.same(want) {
		return plumbing.ZeroHash, changed(want, got)
	}
	out := stdout.String()
	h, ok := plumbing.FromHex(strings.TrimSpace(out))
	if !ok {
		return plumbing.ZeroHash, fmt.Errorf("git hash-object --path=%s printed %q, not an object id", path, out)
	}
	return h, nil
}
