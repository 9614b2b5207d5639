package main

import (
	"errors"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/selfevals/selfevals/runner"
)

// Env is the process state a command reads besides its streams: the
// working directory and the environment. main passes the process's own;
// tests pass their own, so commands run side by side in one test binary.
type Env struct {
	// Dir is the working directory, absolute. Relative paths the user
	// gives (arguments, --dir, SELFEVALS_DIR) resolve against it.
	Dir string
	// Vars are the environment variables.
	Vars map[string]string
	// inDir is true when the process's working directory is Dir (main's
	// Env). The packages below open relative paths from the process's
	// directory, so only then can a relative path go to them as the user
	// wrote it, and so appear in their messages and in run.json.
	inDir bool
}

// Getenv is the variable's value, "" when it is not set.
func (e *Env) Getenv(key string) string { return e.Vars[key] }

// LookupEnv is the variable's value and whether it is set.
func (e *Env) LookupEnv(key string) (string, bool) {
	v, ok := e.Vars[key]
	return v, ok
}

// Environ is the environment as KEY=value lines, sorted; never nil, so an
// agent started with it does not inherit the process's instead.
func (e *Env) Environ() []string {
	out := make([]string, 0, len(e.Vars))
	for k, v := range e.Vars {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// agentEnv is the environment agents and judges run in.
func (e *Env) agentEnv() runner.AgentEnv {
	return runner.AgentEnv{Lookup: e.LookupEnv, Environ: e.Environ()}
}

// abs is p resolved against the working directory.
func (e *Env) abs(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(e.Dir, p)
}

// path is a path the user gave, in the form to hand to the packages below:
// as given when the process runs in Dir, else resolved against Dir.
func (e *Env) path(p string) string {
	if e.inDir || p == "" {
		return p
	}
	return e.abs(p)
}

// show is a path from path (or built on one) as the user would have
// written it: relative to Dir when it is inside.
func (e *Env) show(p string) string {
	if e.inDir || !filepath.IsAbs(p) {
		return p
	}
	return e.rel(p)
}

// rel is the absolute path p relative to Dir, or p when it is outside.
func (e *Env) rel(p string) string {
	if r, err := filepath.Rel(e.Dir, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}

// userCacheDir is os.UserCacheDir read from this environment.
func (e *Env) userCacheDir() (string, error) {
	switch runtime.GOOS {
	case "windows":
		if dir := e.Getenv("LocalAppData"); dir != "" {
			return dir, nil
		}
		return "", errors.New("%LocalAppData% is not defined")
	case "darwin", "ios":
		if home := e.Getenv("HOME"); home != "" {
			return home + "/Library/Caches", nil
		}
		return "", errors.New("$HOME is not defined")
	case "plan9":
		if home := e.Getenv("home"); home != "" {
			return home + "/lib/cache", nil
		}
		return "", errors.New("$home is not defined")
	}
	if dir := e.Getenv("XDG_CACHE_HOME"); dir != "" {
		if !filepath.IsAbs(dir) {
			return "", errors.New("path in $XDG_CACHE_HOME is relative")
		}
		return dir, nil
	}
	if home := e.Getenv("HOME"); home != "" {
		return home + "/.cache", nil
	}
	return "", errors.New("neither $XDG_CACHE_HOME nor $HOME are defined")
}
