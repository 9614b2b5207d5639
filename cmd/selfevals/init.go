package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/selfevals/selfevals/evals"
	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/gitstore"
)

type initOptions struct {
	global *globalOptions
	github bool
	force  bool
}

func newInitCmd(io *IOStreams, g *globalOptions) *cobra.Command {
	opts := &initOptions{global: g}
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create the evals/ tree with settings, the taxonomy and the pingpong example",
		Long: `init creates evals/ in the current directory (or --dir): selfevals.yaml,
taxonomy.yaml with the nine official failure modes, the pingpong experiment
and its dataset, a .gitignore for runs/ and .cache/, and a .gitattributes
that keeps specs, datasets and results at LF line endings and marks
results/ for the selfevals-results merge driver.

Inside a git repository init also configures that driver in .git/config
(run init again in each clone; it leaves existing files alone): a merge
where both branches changed evals/results keeps this branch's results and
says so; rerun the experiment and commit to refresh them.

It never overwrites a file that differs from the starter unless --force is
given; it lists what it would have overwritten and writes nothing.`,
		Example: `  selfevals init
  selfevals init --github   # also write .github/workflows/evals.yml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInit(io, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.github, "github", false, "also write a GitHub Actions workflow that runs the evals on pull requests")
	cmd.Flags().BoolVar(&opts.force, "force", false, "overwrite files that differ from the starter")
	return cmd
}

// plannedFile is one file init writes.
type plannedFile struct {
	path string
	data []byte
}

func runInit(io *IOStreams, opts *initOptions) error {
	env := opts.global.env
	dir := starterDir(opts.global)
	plan, err := planInit(dir, opts.github)
	if err != nil {
		return err
	}
	create, same, conflict, err := sortPlan(plan)
	if err != nil {
		return err
	}
	if len(conflict) > 0 && !opts.force {
		return conflictError(env, conflict)
	}
	if err := configureMergeDriver(io, dir); err != nil {
		return err
	}
	if len(create)+len(conflict) == 0 {
		fmt.Fprintf(io.Out, "%s is already initialized: all %d starter files are present and unchanged; nothing to do\n", env.show(dir), len(same))
		return nil
	}
	for _, f := range append(create, conflict...) {
		if err := repo.WriteFileAtomic(f.path, f.data, 0o644); err != nil {
			return err
		}
	}
	for _, f := range create {
		fmt.Fprintf(io.Out, "created      %s\n", env.show(f.path))
	}
	for _, f := range conflict {
		fmt.Fprintf(io.Out, "overwritten  %s\n", env.show(f.path))
	}
	for _, f := range same {
		fmt.Fprintf(io.Out, "unchanged    %s\n", env.show(f.path))
	}
	fmt.Fprintf(io.Out, "\nNext:\n  selfevals validate\n  selfevals run %s\n", env.show(repo.Dir(dir).Spec("pingpong")))
	return nil
}

// mergeDriver is the merge driver evals/.gitattributes names for results/.
// It keeps this branch's version (ours, %A, which git keeps when the
// driver succeeds) and says to rerun: results are regenerated, never merged.
// Git quotes %P for the shell itself.
const (
	mergeDriver        = "selfevals-results"
	mergeDriverCommand = `echo "selfevals: kept this branch's" %P"; rerun its experiment and commit to refresh it" >&2`
)

// configureMergeDriver sets up the results merge driver in the repository
// holding dir; outside one there is nothing to configure.
func configureMergeDriver(io *IOStreams, dir string) error {
	abs, err := filepath.Abs(filepath.Dir(filepath.Clean(dir)))
	if err != nil {
		return err
	}
	gs, err := gitstore.Open(abs)
	if errors.Is(err, gitstore.ErrNotRepository) || errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, kv := range [][2]string{
		{"merge." + mergeDriver + ".name", "selfevals results: keep this branch's, rerun to refresh"},
		{"merge." + mergeDriver + ".driver", mergeDriverCommand},
	} {
		if err := gs.SetConfig(kv[0], kv[1]); err != nil {
			return err
		}
	}
	fmt.Fprintf(io.Out, "configured   git merge driver %s (a merge keeps this branch's evals/results; rerun to refresh)\n", mergeDriver)
	return nil
}

// starterDir is where init writes: --dir, else $SELFEVALS_DIR, else evals.
func starterDir(g *globalOptions) string {
	if dir := g.chosenDir(); dir != "" {
		return dir
	}
	return g.env.path("evals")
}

// conflictError refuses to overwrite files that differ from the starter.
func conflictError(env *Env, conflict []plannedFile) error {
	msg := "these files exist and differ from the starter; nothing was written:\n"
	for _, f := range conflict {
		msg += "  " + env.show(f.path) + "\n"
	}
	return &repo.UserError{Msg: msg[:len(msg)-1], Hint: "pass --force to overwrite them"}
}

// planInit lists the starter files under dir, and the workflow when github.
func planInit(dir string, github bool) ([]plannedFile, error) {
	var plan []plannedFile
	for _, name := range evals.StarterFiles {
		data, err := fs.ReadFile(evals.Starter, name)
		if err != nil {
			return nil, err
		}
		if name == repo.SettingsName {
			data = namedSettings(data, dir)
		}
		plan = append(plan, plannedFile{filepath.Join(dir, filepath.FromSlash(name)), data})
	}
	if github {
		root := filepath.Dir(filepath.Clean(dir))
		plan = append(plan, plannedFile{filepath.Join(root, ".github", "workflows", "evals.yml"), []byte(githubWorkflow)})
	}
	return plan, nil
}

// sortPlan sorts the planned files into those to create, those already as
// planned, and those that exist with other content.
func sortPlan(plan []plannedFile) (create, same, conflict []plannedFile, err error) {
	for _, f := range plan {
		old, err := os.ReadFile(f.path)
		switch {
		case os.IsNotExist(err):
			create = append(create, f)
		case err != nil:
			return nil, nil, nil, err
		case bytes.Equal(old, f.data):
			same = append(same, f)
		default:
			conflict = append(conflict, f)
		}
	}
	return create, same, conflict, nil
}

// githubWorkflow runs the experiments on pull requests and posts the diff
// of their results as one comment.
const githubWorkflow = `# Runs the evals on every pull request and posts what changed as a comment.
name: evals
on:
  pull_request:
permissions:
  contents: read
  pull-requests: write
jobs:
  evals:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0
      - uses: actions/setup-go@v5
        with:
          go-version: stable
      - run: go install github.com/selfevals/selfevals/cmd/selfevals@latest
      - run: selfevals validate
      - name: Run every experiment (baseline only)
        run: |
          for spec in evals/experiments/*.yaml; do
            selfevals run "$spec" --max-iterations 1 --no-commit
          done
      - name: Compare with the base branch
        run: selfevals diff "origin/${{ github.base_ref }}" --format md > evals-diff.md
      - name: Comment on the pull request
        env:
          GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}
        run: selfevals comment --github --body-file evals-diff.md --key evals
`
