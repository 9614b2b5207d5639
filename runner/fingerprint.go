package runner

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/selfevals/selfevals/repo"
)

// AgentFingerprint identifies the version of the agent (agt_…), for the
// cache key and the run manifest. It hashes:
//
//   - the canonical JSON of the agent block as written, so ${NAME}
//     templates count but their values (secrets) never do;
//   - the content of every path in agent.fingerprint (files, or directories
//     walked in sorted order), relative to the repository root;
//   - the content of every agent.command argument that names a file inside
//     the repository (agents/support.py), so editing the agent's script
//     invalidates the cache without listing it.
//
// Files named in the fingerprint are hashed with their path relative to the
// root, so moving a file changes the fingerprint too. Directories skip what
// running an agent generates (__pycache__, *.pyc) and .git.
func AgentFingerprint(ls *repo.LoadedSpec) (string, error) {
	agent := ls.Spec.Agent
	block, err := repo.CanonicalOnce(agent)
	if err != nil {
		return "", fmt.Errorf("agent fingerprint: %w", err)
	}
	root, err := filepath.Abs(ls.Root)
	if err != nil {
		return "", fmt.Errorf("agent fingerprint: %w", err)
	}
	h := sha256.New()
	writeField(h, []byte("agent"), block)

	for _, p := range agent.Fingerprint {
		abs, rel, err := insideRoot(root, root, p)
		if err != nil {
			return "", repo.Userf("agent.fingerprint: %s is outside the repository %s", p, root)
		}
		if _, err := os.Stat(abs); err != nil {
			return "", repo.Userf("agent.fingerprint: %s does not exist (paths are relative to the repository root %s)", p, root)
		}
		if err := hashTree(h, root, abs); err != nil {
			return "", fmt.Errorf("agent fingerprint: %s: %w", rel, err)
		}
	}

	if len(agent.Command) > 0 {
		// Arguments are relative to the agent's working directory.
		base := root
		if agent.Workdir != "" {
			base = agent.Workdir
			if !filepath.IsAbs(base) {
				base = filepath.Join(root, base)
			}
		}
		for _, arg := range agent.Command {
			if arg == "" || strings.HasPrefix(arg, "-") {
				continue
			}
			abs, rel, err := insideRoot(root, base, arg)
			if err != nil {
				continue
			}
			st, err := os.Stat(abs)
			if err != nil || !st.Mode().IsRegular() {
				continue
			}
			if err := hashFile(h, rel, abs); err != nil {
				return "", fmt.Errorf("agent fingerprint: %s: %w", rel, err)
			}
		}
	}
	return "agt_" + hex.EncodeToString(h.Sum(nil)[:8]), nil
}

// insideRoot resolves p against base and checks it stays inside root; rel is
// the slash path relative to root.
func insideRoot(root, base, p string) (abs, rel string, err error) {
	abs = p
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(base, p)
	}
	abs = filepath.Clean(abs)
	r, err := filepath.Rel(root, abs)
	if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return "", "", fmt.Errorf("%s is outside %s", p, root)
	}
	return abs, filepath.ToSlash(r), nil
}

// hashTree hashes a file, or every file under a directory in lexical order.
func hashTree(h hash.Hash, root, abs string) error {
	return filepath.WalkDir(abs, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != abs && (name == ".git" || name == "__pycache__") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(name, ".pyc") || !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		return hashFile(h, filepath.ToSlash(rel), path)
	})
}

// hashFile hashes a file's path and content. A text file (no NUL byte, as
// git tells text from binary) is hashed with CRLF line endings as LF, so a
// checkout with core.autocrlf gives the same fingerprint on every system;
// an LF file hashes exactly as its bytes.
func hashFile(h hash.Hash, rel, abs string) error {
	f, err := os.Open(abs)
	if err != nil {
		return err
	}
	defer f.Close()
	var scan crlfScanner
	if _, err := io.Copy(&scan, f); err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	writeLen(h, []byte(rel))
	h.Write([]byte(rel))
	var n [8]byte
	if scan.binary || scan.crlf == 0 {
		binary.BigEndian.PutUint64(n[:], uint64(scan.size))
		h.Write(n[:])
		_, err = io.Copy(h, f)
		return err
	}
	binary.BigEndian.PutUint64(n[:], uint64(scan.size-scan.crlf))
	h.Write(n[:])
	w := &crlfToLF{w: h}
	if _, err := io.Copy(w, f); err != nil {
		return err
	}
	if w.lastCR { // a CR that ends the file is content
		h.Write([]byte{'\r'})
	}
	return nil
}

// crlfScanner counts a file's bytes and CRLF pairs and notes a NUL byte.
type crlfScanner struct {
	size, crlf int64
	binary     bool
	lastCR     bool
}

func (s *crlfScanner) Write(p []byte) (int, error) {
	for _, b := range p {
		switch {
		case b == 0:
			s.binary = true
		case b == '\n' && s.lastCR:
			s.crlf++
		}
		s.lastCR = b == '\r'
	}
	s.size += int64(len(p))
	return len(p), nil
}

// crlfToLF writes what it is given with each CRLF as LF; a CR at the end
// of one write waits for the next.
type crlfToLF struct {
	w      io.Writer
	out    []byte
	lastCR bool
}

func (c *crlfToLF) Write(p []byte) (int, error) {
	c.out = c.out[:0]
	for _, b := range p {
		if c.lastCR && b != '\n' {
			c.out = append(c.out, '\r')
		}
		c.lastCR = b == '\r'
		if !c.lastCR {
			c.out = append(c.out, b)
		}
	}
	_, err := c.w.Write(c.out)
	return len(p), err
}

// writeField writes a length-prefixed name and value, so no two different
// inputs hash the same stream.
func writeField(h hash.Hash, name, value []byte) {
	writeLen(h, name)
	h.Write(name)
	writeLen(h, value)
	h.Write(value)
}

func writeLen(h hash.Hash, b []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(b)))
	h.Write(n[:])
}
