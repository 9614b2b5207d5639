package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/selfevals/selfevals/repo"
)

type validateOptions struct {
	global *globalOptions
	paths  []string
}

func newValidateCmd(io *IOStreams, g *globalOptions) *cobra.Command {
	opts := &validateOptions{global: g}
	return &cobra.Command{
		Use:   "validate [path…]",
		Short: "Check every spec, dataset, grader card and the taxonomy",
		Long: `validate loads every file under evals/ (or only the named files) the way a
run would, and prints one line per file with its ID and case count, or every
problem found, each as file:line:column: field: message. It writes nothing.
Exit status 2 when any file has a problem.`,
		Example: `  selfevals validate
  selfevals validate evals/datasets/support.jsonl evals/experiments/support.yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.paths = args
			return runValidate(io, opts)
		},
	}
}

func runValidate(io *IOStreams, opts *validateOptions) error {
	env := opts.global.env
	files, err := filesToCheck(opts.global, opts.paths)
	if err != nil {
		return err
	}
	loadOpts, err := opts.global.loadOptions()
	if err != nil {
		return err
	}
	bad := 0
	shown := map[string]bool{}
	for _, f := range files {
		summary, warnings, err := repo.CheckFile(f, loadOpts)
		for _, w := range warnings {
			fmt.Fprintln(io.ErrOut, "warning: "+w)
		}
		if err != nil {
			bad++
			fmt.Fprintf(io.Out, "FAIL  %s\n", env.show(f.Path))
			if err = unseen(err, shown); err != nil {
				fmt.Fprintln(io.ErrOut, indentErr(err))
			}
			continue
		}
		fmt.Fprintf(io.Out, "ok    %s  %s\n", env.show(f.Path), summary)
	}
	if bad > 0 {
		return &exitError{code: exitUsage, msg: fmt.Sprintf("%d of %d files have problems", bad, len(files))}
	}
	fmt.Fprintf(io.ErrOut, "%d files ok\n", len(files))
	return nil
}

// filesToCheck is the named files, or every file of the evals/ tree.
func filesToCheck(g *globalOptions, paths []string) ([]repo.TreeFile, error) {
	if len(paths) == 0 {
		dir := g.evalsDir()
		files, err := repo.TreeFiles(dir)
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, repo.Userf("%s holds no specs, datasets, cards or taxonomy", g.env.show(dir))
		}
		return files, nil
	}
	var files []repo.TreeFile
	for _, p := range paths {
		kind, err := repo.KindOf(p)
		if err != nil {
			return nil, err
		}
		files = append(files, repo.TreeFile{Path: g.env.path(p), Kind: kind})
	}
	return files, nil
}

// unseen leaves out of err the problems already shown: a spec reports
// the problems of the card it names, and the card, checked on its own
// too, would repeat them. nil when nothing is left.
func unseen(err error, shown map[string]bool) error {
	var probs repo.Problems
	if !errors.As(err, &probs) {
		return err
	}
	var left repo.Problems
	for _, p := range probs {
		if !shown[p.Error()] {
			shown[p.Error()] = true
			left = append(left, p)
		}
	}
	return left.Err()
}

// indentErr prints an error with its problems one per line.
func indentErr(err error) string {
	lines := strings.Split(err.Error(), "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n")
}
