package gitstore

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
)

// SetConfig sets key to value in the repository's own configuration
// (.git/config), as `git config` does. It asks the git CLI: go-git rewrites
// the whole file and would drop what it does not model ([include] and the
// like).
func (g *Git) SetConfig(key, value string) error {
	out, err := exec.Command("git", "-C", g.root, "config", "--local", key, value).CombinedOutput()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(out) > 0 {
			err = fmt.Errorf("%w: %s", err, bytes.TrimSpace(out))
		}
		return fmt.Errorf("git config %s in %s: %w", key, g.root, err)
	}
	return nil
}
