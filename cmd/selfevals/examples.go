package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/selfevals/selfevals/examples"
	"github.com/selfevals/selfevals/repo"
)

func newExamplesCmd(io *IOStreams, g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "examples",
		Short: "List the runnable examples; examples copy <name> writes one into this repository",
		Long: `examples lists the examples shipped in the binary, one line each: its name,
the kind of agent it uses and what it shows. Every example runs offline:
the built-in ones with no step at all, the command one with python3, and
the HTTP and OpenAI-compatible ones once their small Python server is
started (copy prints the command).

selfevals examples copy <name> writes it into the repository.`,
		Example: `  selfevals examples
  selfevals examples copy python-command`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			tw := tabwriter.NewWriter(io.Out, 0, 0, 2, ' ', 0)
			for _, e := range examples.All() {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", e.Name, e.Agent, e.Summary)
			}
			return tw.Flush()
		},
	}
	cmd.AddCommand(newExamplesCopyCmd(io, g))
	return cmd
}

type examplesCopyOptions struct {
	global *globalOptions
	force  bool
}

func newExamplesCopyCmd(io *IOStreams, g *globalOptions) *cobra.Command {
	opts := &examplesCopyOptions{global: g}
	cmd := &cobra.Command{
		Use:   "copy <name>",
		Short: "Write an example's spec, dataset and agent into this repository",
		Long: `copy writes the example's experiment spec and dataset under the evals/
directory (--dir, else the nearest evals/, else ./evals) and its agent, if
it has one, under agents/<name>/ beside that directory (the repository
root, against which the spec's paths resolve), with a README that explains
the agent. A .gitignore for runs/ and .cache/ is added when evals/ has none.

A file that exists with other content is never overwritten unless --force
is given: copy lists them, writes nothing and exits with status 2. Files
already as the example has them are left alone.`,
		Example: `  selfevals examples copy python-command
  selfevals run evals/experiments/python-command.yaml
  selfevals examples copy http-agent --dir other/evals --force`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: cobra.FixedCompletions(examples.Names(), cobra.ShellCompDirectiveNoFileComp),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExamplesCopy(io, opts, args[0])
		},
	}
	cmd.Flags().BoolVar(&opts.force, "force", false, "overwrite files that exist with other content")
	return cmd
}

// exampleFile is one file copy writes, where it goes.
type exampleFile struct {
	path     string
	data     []byte
	optional bool
}

func runExamplesCopy(io *IOStreams, opts *examplesCopyOptions, name string) error {
	ex, ok := examples.Find(name)
	if !ok {
		e := &repo.UserError{Msg: fmt.Sprintf("no example %q; the examples are %s", name, strings.Join(examples.Names(), ", "))}
		if s := repo.Suggest(name, examples.Names()); s != "" {
			e.Hint = "did you mean " + s + "?"
		}
		return e
	}
	env := opts.global.env
	dir := opts.global.evalsDir()
	files, err := placeExample(ex, dir)
	if err != nil {
		return err
	}
	var write, conflict []exampleFile
	for _, f := range files {
		old, err := os.ReadFile(f.path)
		switch {
		case os.IsNotExist(err):
			write = append(write, f)
		case err != nil:
			return err
		case bytes.Equal(old, f.data) || f.optional:
		default:
			conflict = append(conflict, f)
		}
	}
	if len(conflict) > 0 && !opts.force {
		msg := "these files exist with other content; nothing was written:"
		for _, f := range conflict {
			msg += "\n  " + env.show(f.path)
		}
		return &repo.UserError{Msg: msg, Hint: "pass --force to overwrite them"}
	}
	for _, f := range append(write, conflict...) {
		if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
			return err
		}
		if err := repo.WriteFileAtomic(f.path, f.data, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(io.Out, "wrote  %s\n", env.show(f.path))
	}
	if len(write)+len(conflict) == 0 {
		fmt.Fprintf(io.Out, "the %s example is already here, unchanged; nothing to do\n", name)
	}
	printNextSteps(io, env, ex, dir)
	return nil
}

// placeExample maps the example's files to where they go: evals/… under
// dir, the rest under dir's parent, the repository root.
func placeExample(ex examples.Example, dir string) ([]exampleFile, error) {
	files, err := ex.Files()
	if err != nil {
		return nil, err
	}
	root := filepath.Dir(filepath.Clean(dir))
	out := make([]exampleFile, len(files))
	for i, f := range files {
		p := filepath.Join(root, filepath.FromSlash(f.Path))
		if rest, ok := strings.CutPrefix(f.Path, "evals/"); ok {
			p = filepath.Join(dir, filepath.FromSlash(rest))
		}
		out[i] = exampleFile{path: p, data: f.Data, optional: f.Optional}
	}
	return out, nil
}

func printNextSteps(io *IOStreams, env *Env, ex examples.Example, dir string) {
	spec := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(ex.Spec(), "evals/")))
	fmt.Fprintln(io.Out, "\nNext:")
	if ex.Start != "" {
		root := env.show(filepath.Dir(filepath.Clean(dir)))
		where := ""
		if root != "." && root != "" {
			where = fmt.Sprintf("   (from %s)", root)
		}
		fmt.Fprintf(io.Out, "  %s%s\n", ex.Start, where)
	}
	fmt.Fprintf(io.Out, "  selfevals run %s\n", env.show(spec))
}
