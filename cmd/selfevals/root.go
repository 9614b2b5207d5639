package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/selfevals/selfevals/repo"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

func toolVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// Exit codes: 0 success, 1 a failure, 2 a usage or input error (bad flag,
// spec, dataset; also fmt --check on files that are not canonical), 4 a
// gate that failed (diff --fail-on regression).
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	exitGate    = 4
)

// exitError carries an exit code chosen by a command (e.g. fmt --check).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// globalOptions are the flags every command shares, and the working
// directory and environment it runs in.
type globalOptions struct {
	dir string // the evals/ directory
	env *Env
}

// evalsDir resolves the evals/ directory: --dir, then SELFEVALS_DIR, then
// the nearest evals/ in this directory or a parent (stopping at the
// repository root), else ./evals.
func (g *globalOptions) evalsDir() string {
	if d := g.chosenDir(); d != "" {
		return d
	}
	if g.env.Dir == "" {
		return "evals"
	}
	for d := g.env.Dir; ; {
		if st, err := os.Stat(filepath.Join(d, "evals")); err == nil && st.IsDir() {
			return g.env.path(g.env.rel(filepath.Join(d, "evals")))
		}
		if _, err := os.Stat(filepath.Join(d, ".git")); err == nil {
			break
		}
		parent := filepath.Dir(d)
		if parent == d {
			break
		}
		d = parent
	}
	return g.env.path("evals")
}

// chosenDir is the evals/ directory --dir or else SELFEVALS_DIR names, or
// "".
func (g *globalOptions) chosenDir() string {
	if g.dir != "" {
		return g.env.path(g.dir)
	}
	return g.env.path(g.env.Getenv("SELFEVALS_DIR"))
}

// loadOptions are the loader's options for this evals/ directory.
func (g *globalOptions) loadOptions() (repo.LoadOptions, error) {
	dir := g.evalsDir()
	settings, err := repo.LoadSettings(dir)
	if err != nil {
		return repo.LoadOptions{}, err
	}
	root := filepath.Dir(g.env.abs(dir))
	if !filepath.IsAbs(root) {
		return repo.LoadOptions{}, errors.New("the working directory is unknown (was it removed?)")
	}
	return repo.LoadOptions{Root: root, Settings: settings}, nil
}

func newRootCmd(io *IOStreams, env *Env) *cobra.Command {
	g := &globalOptions{env: env}
	root := &cobra.Command{
		Use:   "selfevals",
		Short: "Evaluate and improve AI agents from inside a git repository",
		Long: `selfevals runs eval cases through your agent, grades every trace, sweeps the
parameters the experiment allows, decides which configuration to keep, and
writes everything as plain files under evals/.`,
		Example: `  selfevals init
  selfevals validate
  selfevals run evals/experiments/pingpong.yaml`,
		Version:       toolVersion(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(io.In)
	root.SetOut(io.Out)
	root.SetErr(io.ErrOut)
	root.SetVersionTemplate("selfevals {{.Version}}\n")
	root.PersistentFlags().StringVar(&g.dir, "dir", "", "the evals/ directory (default: ./evals or the nearest parent's; env SELFEVALS_DIR)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &usageError{err: err, cmd: c}
	})
	root.AddCommand(
		newInitCmd(io, g),
		newValidateCmd(io, g),
		newFmtCmd(io, g),
		newRunCmd(io, g),
		newCompareCmd(io, g),
		newEstimateCmd(io, g),
		newReportCmd(io, g),
		newCandidatesCmd(io, g),
		newCheckCmd(io, g),
		newHistoryCmd(io, g),
		newAdoptCmd(io, g),
		newMergeCmd(io, g),
		newGraderCmd(io, g),
		newRegradeCmd(io, g),
		newDiffCmd(io, g),
		newCommentCmd(io, g),
		newAnalyzeCmd(io, g),
		newFailureModeCmd(io, g),
		newSkillsCmd(io, g),
		newServeCmd(io, g),
		newExperimentsCmd(io, g),
		newRunsCmd(io, g),
		newShowCmd(io, g),
		newExamplesCmd(io, g),
		newReferenceCmd(io),
	)
	completeArgs(root, g)
	return root
}

// usageError is a bad flag or argument: exit 2 with a pointer to --help.
type usageError struct {
	err error
	cmd *cobra.Command
}

func (e *usageError) Error() string {
	return fmt.Sprintf("%v\n  hint: see '%s --help'", e.err, e.cmd.CommandPath())
}

// Main runs the command line in env and returns the exit code. Long
// commands stop cleanly when ctx is cancelled. No panic reaches the user as
// a Go trace: it becomes an internal error, exit 1.
func Main(ctx context.Context, args []string, io *IOStreams, env *Env) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(io.ErrOut, "error: internal error: %v\n  please report this with the command you ran\n%s", r, debug.Stack())
			code = exitFailure
		}
	}()
	root := newRootCmd(io, env)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(io.ErrOut, "error: "+ee.msg)
		}
		return ee.code
	}
	fmt.Fprintln(io.ErrOut, "error: "+err.Error())
	var ue *usageError
	if errors.As(err, &ue) || repo.IsUserError(err) || isCobraUsage(err) {
		return exitUsage
	}
	return exitFailure
}

// isCobraUsage recognises cobra's own argument errors, which have no type.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "accepts ", "requires at least", "requires at most", "unknown flag", "unknown shorthand", "invalid argument", "required flag(s)"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}
