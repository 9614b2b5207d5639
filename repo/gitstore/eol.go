package gitstore

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"github.com/go-git/go-git/v6/plumbing"
)

// writeCleanBlob writes data as the blob for path the way `git add` would:
// through git's clean filter, which applies core.autocrlf, core.eol and
// .gitattributes (text, eol). A spec read from a checkout with CRLF line
// endings is thus stored with LF, like the rest of the repository, and a
// candidate's diff is its parameters, not every line. Data without CRLF
// needs no line-ending conversion and is written directly.
func (g *Git) writeCleanBlob(path string, data []byte) (plumbing.Hash, error) {
	if !bytes.Contains(data, []byte("\r\n")) {
		return g.writeBlob(data)
	}
	cmd := exec.Command("git", "-C", g.root, "hash-object", "-w", "--stdin", "--path="+path)
	cmd.Stdin = bytes.NewReader(data)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if errors.Is(err, exec.ErrNotFound) {
		return g.writeBlob(data) // no git to ask: keep the bytes as they are
	}
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("git hash-object --path=%s: %w: %s", path, err, bytes.TrimSpace(stderr.Bytes()))
	}
	h, ok := plumbing.FromHex(strings.TrimSpace(string(out)))
	if !ok {
		return plumbing.ZeroHash, fmt.Errorf("git hash-object --path=%s printed %q, not an object id", path, out)
	}
	return h, nil
}
