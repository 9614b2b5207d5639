package gitstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"
)

// dirtyTimeout bounds Dirty: the answer is only noted in a run's manifest,
// so a huge tree or a git waiting on a lock must not hold the run up.
const dirtyTimeout = 5 * time.Second

// Dirty reports whether tracked files differ from HEAD, staged or not;
// untracked files do not count. It asks the git CLI, because go-git's status
// hashes every file and is far too slow on real repositories. The error says
// why there is no answer (git missing, failing or too slow).
func (g *Git) Dirty() (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dirtyTimeout)
	defer cancel()
	// --no-optional-locks: status must not refresh the index as a side
	// effect, which could race with the user's own git commands.
	out, err := exec.CommandContext(ctx, "git", "--no-optional-locks", "-C", g.root,
		"status", "--porcelain", "--untracked-files=no").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			err = fmt.Errorf("%w: %s", err, bytes.TrimSpace(ee.Stderr))
		}
		return false, fmt.Errorf("git status in %s: %w", g.root, err)
	}
	return len(bytes.TrimSpace(out)) > 0, nil
}
