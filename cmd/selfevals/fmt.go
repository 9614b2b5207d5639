package main

import (
	"bytes"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/selfevals/selfevals/repo"
)

type fmtOptions struct {
	global *globalOptions
	check  bool
	paths  []string
}

func newFmtCmd(io *IOStreams, g *globalOptions) *cobra.Command {
	opts := &fmtOptions{global: g}
	cmd := &cobra.Command{
		Use:   "fmt [path…]",
		Short: "Rewrite datasets and YAML files in their canonical form",
		Long: `fmt rewrites datasets as canonical JSON lines sorted by each case's id, else
its name (cases with neither keep their order after them; editing a case never
moves it; comment lines travel with the case below them) and YAML files with
two-space indentation, keeping comments and key order. A file with problems is left
untouched and its problems are printed.

With --check nothing is written: the files that would change are listed and
the exit status is 2 when there is any (for CI).`,
		Example: `  selfevals fmt
  selfevals fmt --check
  selfevals fmt evals/datasets/support.jsonl`,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.paths = args
			return runFmt(io, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.check, "check", false, "list files that are not canonical and exit 2; write nothing")
	return cmd
}

func runFmt(io *IOStreams, opts *fmtOptions) error {
	files, err := filesToCheck(opts.global, opts.paths)
	if err != nil {
		return err
	}
	changed, bad := 0, 0
	for _, f := range files {
		want, err := canonical(f)
		if err != nil {
			bad++
			fmt.Fprintf(io.ErrOut, "%s\n", indentErr(err))
			continue
		}
		have, err := os.ReadFile(f.Path)
		if err != nil {
			return err
		}
		if bytes.Equal(have, want) {
			continue
		}
		changed++
		shown := opts.global.env.show(f.Path)
		if opts.check {
			fmt.Fprintf(io.Out, "would reformat %s\n", shown)
			continue
		}
		if err := rewrite(f.Path, want); err != nil {
			return err
		}
		fmt.Fprintf(io.Out, "formatted %s\n", shown)
	}
	switch {
	case bad > 0:
		return &exitError{code: exitUsage, msg: fmt.Sprintf("%d files have problems and were not formatted", bad)}
	case opts.check && changed > 0:
		return &exitError{code: exitUsage, msg: fmt.Sprintf("%d of %d files are not canonical; run selfevals fmt", changed, len(files))}
	case changed == 0:
		fmt.Fprintf(io.ErrOut, "%d files already canonical\n", len(files))
	}
	return nil
}

// canonical is a file's canonical form.
func canonical(f repo.TreeFile) ([]byte, error) {
	if f.Kind == repo.KindDataset {
		return repo.FormatDataset(f.Path)
	}
	return repo.FormatYAML(f.Path)
}

// rewrite replaces a file's content, keeping its permissions.
func rewrite(path string, data []byte) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	return repo.WriteFileAtomic(path, data, st.Mode().Perm())
}
