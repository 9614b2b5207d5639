package gitstore

import (
	"errors"
	"os/exec"
	"strings"

	"github.com/go-git/go-git/v6/config"
)

// identityKeys are the config keys a commit's author and committer come
// from, lower-cased as git prints them.
const identityKeys = `^(user|author|committer)\.(name|email)$`

// identityConfig reads user.*, author.* and committer.* as git resolves
// them: system, global and repository config, with the files [include] and
// [includeIf "gitdir:..."] pull in (go-git reads none of those). The git
// CLI answers; without it, go-git's reading of the global and repository
// config does.
func (g *Git) identityConfig() map[string]string {
	out, err := exec.Command("git", "-C", g.root, "config", "--includes", "--get-regexp", identityKeys).Output()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return parseConfigLines(string(out))
	case errors.As(err, &ee) && ee.ExitCode() == 1:
		return map[string]string{} // none of the keys is set
	}
	return g.goGitIdentityConfig()
}

// parseConfigLines reads `git config --get-regexp` output; a key set more
// than once takes its last value, as git does.
func parseConfigLines(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if key, value, ok := strings.Cut(line, " "); ok {
			m[key] = value
		}
	}
	return m
}

func (g *Git) goGitIdentityConfig() map[string]string {
	cfg, err := g.repo.ConfigScoped(config.GlobalScope)
	if err != nil {
		// A global config go-git cannot parse should not block committing.
		cfg, err = g.repo.Config()
	}
	if err != nil {
		return map[string]string{}
	}
	return map[string]string{
		"user.name": cfg.User.Name, "user.email": cfg.User.Email,
		"author.name": cfg.Author.Name, "author.email": cfg.Author.Email,
		"committer.name": cfg.Committer.Name, "committer.email": cfg.Committer.Email,
	}
}
