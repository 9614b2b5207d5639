package main

import (
	"fmt"
	"os/user"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/reports"
)

type failureModeOptions struct {
	global *globalOptions
	by     string
	now    func() time.Time
}

func (o *failureModeOptions) change() (repo.Change, error) {
	by := o.by
	if by == byYourLogin {
		by = defaultBy(o.global.env)
	}
	if err := checkBy(by); err != nil {
		return repo.Change{}, err
	}
	return repo.Change{By: by, At: o.now().UTC().Format(time.RFC3339)}, nil
}

// byYourLogin is the default of --by, looked up only when a change is made:
// user.Current reads /etc/passwd, which every start of selfevals paid for
// while it built its commands.
const byYourLogin = "human:<your login>"

func (o *failureModeOptions) open() (*repo.TaxonomyFile, error) {
	return repo.OpenTaxonomy(repo.Dir(o.global.evalsDir()).Taxonomy())
}

// defaultBy names the person at the keyboard: human:<login>.
func defaultBy(env *Env) string {
	name := env.Getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	name = strings.Join(strings.Fields(name), "_")
	if name == "" {
		name = "unknown"
	}
	return "human:" + name
}

func newFailureModeCmd(io *IOStreams, g *globalOptions) *cobra.Command {
	opts := &failureModeOptions{global: g, now: time.Now}
	cmd := &cobra.Command{
		Use:   "failuremode",
		Short: "Review the failure-mode taxonomy: list, promote, retire, merge, edit",
		Long: `failuremode manages the modes in evals/taxonomy.yaml. Error analysis
(analyze push) adds candidates; people review them: promote the ones that
are real and distinct, merge duplicates into the mode they duplicate (the
merged mode is retired with merged_into, and its old assignments resolve to
where it went), retire the rest, and edit titles and definitions as the
understanding sharpens. Every change is recorded in the mode's history with
who (--by) and when; comments and layout of the file are kept.

Modes are named by ID (fm_<slug>) or bare slug.`,
		Example: `  selfevals failuremode list --status candidate
  selfevals failuremode promote fm_says_miss
  selfevals failuremode merge fm_dup_mode --into fm_says_miss
  selfevals failuremode edit says_miss --definition "Answers miss when pong was expected."`,
	}
	cmd.PersistentFlags().StringVar(&opts.by, "by", byYourLogin, "who makes the change: human:NAME or agent:NAME")
	cmd.AddCommand(newFailureModeListCmd(io, opts), newFailureModePromoteCmd(io, opts), newFailureModeRetireCmd(io, opts),
		newFailureModeMergeCmd(io, opts), newFailureModeEditCmd(io, opts))
	return cmd
}

func newFailureModeListCmd(io *IOStreams, opts *failureModeOptions) *cobra.Command {
	var status string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List failure modes by status, with example counts and history",
		Long: `list prints every mode sorted by status (candidate, official, retired) then
slug: a * marks official modes; then the ID, status, number of examples
and title. Modes with a history (promoted, merged, edited, retired) show
it below, one line per change.`,
		Example: `  selfevals failuremode list
  selfevals failuremode list --status candidate`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if status != "" && status != "candidate" && status != "official" && status != "retired" {
				return repo.Userf("--status must be candidate, official or retired, got %q", status)
			}
			tf, err := opts.open()
			if err != nil {
				return err
			}
			fmt.Fprint(io.Out, reports.FailureModeList(tf.Sorted(), status))
			return nil
		},
	}
	cmd.Flags().StringVar(&status, "status", "", "only modes with this status: candidate, official or retired")
	return cmd
}

func newFailureModePromoteCmd(io *IOStreams, opts *failureModeOptions) *cobra.Command {
	return newFailureModeStatusCmd(io, opts, statusChange{
		use:     "promote <mode>",
		short:   "Make a candidate (or retired) mode official",
		long:    `promote sets a mode's status to official and records it in the mode's history. Promoting an official mode changes nothing.`,
		example: `  selfevals failuremode promote fm_says_miss`,
		apply:   (*repo.TaxonomyFile).Promote,
		done:    "promoted %s (%s) → official",
		already: "%s is already official",
	})
}

func newFailureModeRetireCmd(io *IOStreams, opts *failureModeOptions) *cobra.Command {
	return newFailureModeStatusCmd(io, opts, statusChange{
		use:     "retire <mode>",
		short:   "Retire a mode: it leaves bundles and stops being offered to classify into",
		long:    `retire sets a mode's status to retired and records it in the mode's history. Its examples and past assignments stay. Use merge instead when the mode duplicates another.`,
		example: `  selfevals failuremode retire fm_dup_mode`,
		apply:   (*repo.TaxonomyFile).Retire,
		done:    "retired %s (%s)",
		already: "%s is already retired",
	})
}

// statusChange describes a command that moves one mode to another status.
type statusChange struct {
	use, short, long, example string
	apply                     func(tf *repo.TaxonomyFile, mode string, c repo.Change) (bool, error)
	done, already             string // formats: mode ID, then title
}

func newFailureModeStatusCmd(io *IOStreams, opts *failureModeOptions, sc statusChange) *cobra.Command {
	return &cobra.Command{
		Use:     sc.use,
		Short:   sc.short,
		Long:    sc.long,
		Example: sc.example,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return editTaxonomy(io, opts, func(tf *repo.TaxonomyFile, c repo.Change) (string, error) {
				m, err := tf.Find(args[0])
				if err != nil {
					return "", err
				}
				changed, err := sc.apply(tf, args[0], c)
				if err != nil || !changed {
					return fmt.Sprintf(sc.already, m.ID()), err
				}
				return fmt.Sprintf(sc.done, m.ID(), m.Title), nil
			})
		},
	}
}

func newFailureModeMergeCmd(io *IOStreams, opts *failureModeOptions) *cobra.Command {
	var into string
	cmd := &cobra.Command{
		Use:   "merge <mode> --into <mode>",
		Short: "Fold a mode into another: it is retired and its assignments resolve to the other",
		Long: `merge folds the first mode into the --into mode: the first is retired with
merged_into set (so traces assigned to it before still resolve to the --into
mode in reports), and the --into mode gains its examples. Both modes record
the merge in their history.`,
		Example: `  selfevals failuremode merge fm_dup_mode --into fm_says_miss`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if into == "" {
				return repo.Userf("merge needs --into <mode>")
			}
			return editTaxonomy(io, opts, func(tf *repo.TaxonomyFile, c repo.Change) (string, error) {
				if err := tf.Merge(args[0], into, c); err != nil {
					return "", err
				}
				src, _ := tf.Lookup(args[0])
				dst, _ := tf.Lookup(into)
				return fmt.Sprintf("merged %s (%s) → %s (%s); source retired", src.ID(), src.Title, dst.ID(), dst.Title), nil
			})
		},
	}
	cmd.Flags().StringVar(&into, "into", "", "the mode to fold into (required)")
	return cmd
}

func newFailureModeEditCmd(io *IOStreams, opts *failureModeOptions) *cobra.Command {
	var title, definition string
	cmd := &cobra.Command{
		Use:     "edit <mode> [--title T] [--definition D]",
		Short:   "Change a mode's title or definition (its ID stays)",
		Long:    `edit changes a mode's title and/or definition and records the old and new text in its history. The slug, and so the ID, never changes.`,
		Example: `  selfevals failuremode edit fm_says_miss --title "Says miss" --definition "Answers miss when pong was expected."`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return editTaxonomy(io, opts, func(tf *repo.TaxonomyFile, c repo.Change) (string, error) {
				m, err := tf.Find(args[0])
				if err != nil {
					return "", err
				}
				changed, err := tf.Edit(args[0], strings.TrimSpace(title), strings.TrimSpace(definition), c)
				if err != nil {
					return "", err
				}
				if !changed {
					return fmt.Sprintf("%s already reads so; nothing changed", m.ID()), nil
				}
				return fmt.Sprintf("edited %s (%s)", m.ID(), m.Slug), nil
			})
		},
	}
	cmd.Flags().StringVar(&title, "title", "", "the new title")
	cmd.Flags().StringVar(&definition, "definition", "", "the new definition")
	return cmd
}

// editTaxonomy opens the taxonomy, applies one edit and saves it.
func editTaxonomy(io *IOStreams, opts *failureModeOptions, edit func(*repo.TaxonomyFile, repo.Change) (string, error)) error {
	c, err := opts.change()
	if err != nil {
		return err
	}
	tf, err := opts.open()
	if err != nil {
		return err
	}
	msg, err := edit(tf, c)
	if err != nil {
		return err
	}
	if _, err := tf.Save(); err != nil {
		return err
	}
	fmt.Fprintln(io.Out, msg)
	return nil
}
