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
//
// A file counts as changed only when its content does, after git's clean
// filter (core.autocrlf, .gitattributes eol): git status also lists a file
// whose line endings alone differ from the checkout's, because its size
// changed, though git add would store the same blob.
func (g *Git) Dirty() (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dirtyTimeout)
	defer cancel()
	// --no-optional-locks: status must not refresh the index as a side
	// effect, which could race with the user's own git commands.
	out, err := g.run(ctx, "status", "--porcelain", "--untracked-files=no")
	if err != nil || len(bytes.TrimSpace(out)) == 0 {
		return false, err
	}
	// Something is listed: compare contents. git diff drops the files
	// whose cleaned content matches; exit 1 means a real change.
	_, err = g.run(ctx, "diff", "--quiet", "HEAD", "--")
	var ee *exec.ExitError
	switch {
	case err == nil:
		return false, nil
	case errors.As(err, &ee) && ee.ExitCode() == 1:
		return true, nil
	}
	// No HEAD commit yet: what status lists is staged for the first one.
	if _, herr := g.run(ctx, "rev-parse", "--verify", "--quiet", "HEAD"); herr != nil {
		return true, nil
	}
	return false, err
}

// run runs git in the work tree without optional locks and returns its
// output; a failure carries git's message.
func (g *Git) run(ctx context.Context, args ...string) ([]byte, error) {
	args = append([]string{"--no-optional-locks", "-C", g.root}, args...)
	out, err := exec.CommandContext(ctx, "git", args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 1 && len(ee.Stderr) == 0 {
			return out, err // a plain "yes" from --quiet and --verify
		}
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			err = fmt.Errorf("%w: %s", err, bytes.TrimSpace(ee.Stderr))
		}
		return out, fmt.Errorf("git %s in %s: %w", args[3], g.root, err)
	}
	return out, nil
}
