package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/gitstore"
	"github.com/selfevals/selfevals/reports"
	"github.com/selfevals/selfevals/reports/pullrequest"
)

type commentOptions struct {
	github   bool
	bodyFile string
	key      string
	env      *Env
}

func newCommentCmd(io *IOStreams, g *globalOptions) *cobra.Command {
	opts := &commentOptions{env: g.env}
	cmd := &cobra.Command{
		Use:   "comment [--github] [--body-file F] [--key K]",
		Short: "Post a report as the pull request's selfevals comment, kept up to date",
		Long: `comment posts markdown (the output of 'selfevals diff' or 'selfevals report')
as a pull-request comment, and keeps ONE comment per key: the comment whose
body starts with a hidden marker (<!-- selfevals:KEY -->) AND that the
token's own identity wrote is updated in place. Anyone can type the marker;
a comment by anyone else is never edited, whatever it holds. Who the token
is comes from GET /user, or the GraphQL viewer for an installation token
(the Actions GITHUB_TOKEN), else github-actions[bot].

With --github it uses the GitHub REST API with GITHUB_TOKEN, GITHUB_REPOSITORY,
GITHUB_EVENT_PATH (the pull request's number), GITHUB_API_URL and
GITHUB_GRAPHQL_URL, as GitHub Actions sets them, and appends the same report
to $GITHUB_STEP_SUMMARY. The comment is cut to GitHub's 65,536-character
limit by dropping whole <details> sections from the end, with a note; the
step summary keeps the full report.

Errors are told apart. 404 (a wrong repository, pull request number or API
URL) and 401 (a bad token) exit 2 with the URL tried. A 403 "Resource not
accessible by integration" is the read-only token of a pull request from a
fork: then only the step summary is written, with a warning, and the command
succeeds; any other 403 is an error. Server errors (5xx) and secondary rate
limits are retried after GitHub's Retry-After; a call is tried at most 4
times.

Two overlapping runs cannot leave two comments: after creating one, comment
reads the comments again and, when an older one of its own has the marker,
updates that one and deletes its own. Workflows should still run one job
per pull request at a time (a concurrency group).

Without --github it prints the comment it would post.`,
		Example: `  selfevals diff "$(git merge-base origin/main HEAD)" > evals-diff.md
  selfevals comment --github --body-file evals-diff.md --key evals

  # in a workflow step
  env:
    GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}
  run: selfevals comment --github --body-file evals-diff.md --key evals`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runComment(cmd.Context(), io, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.github, "github", false, "post to the pull request through the GitHub API (else print the comment)")
	cmd.Flags().StringVar(&opts.bodyFile, "body-file", "-", "the markdown to post (- for standard input)")
	cmd.Flags().StringVar(&opts.key, "key", "report", "which comment to keep up to date: one comment per key")
	return cmd
}

// commentKey is compiled on first use, not at every start (its {0,63}
// makes it one of the costlier patterns to compile).
var commentKey = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$`) })

func runComment(ctx context.Context, ios *IOStreams, opts *commentOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if !commentKey().MatchString(opts.key) {
		return repo.Userf("--key %q: use letters, digits, '.', '_', '-' and '/' (at most 64)", opts.key)
	}
	body, err := readCommentBody(ios, opts.env, opts.bodyFile)
	if err != nil {
		return err
	}
	marker := reports.CommentMarker(opts.key)
	comment := marker + "\n" + reports.FitComment(body, len(marker)+1)
	if !opts.github {
		fmt.Fprintln(ios.Out, comment)
		return nil
	}
	gh := pullrequest.EnvFrom(opts.env.Getenv)
	gh.EventPath, gh.StepSummary = opts.env.path(gh.EventPath), opts.env.path(gh.StepSummary)
	return postComment(ctx, ios, gh, marker, comment, body)
}

// readCommentBody reads the markdown to post: the file, or standard input
// for "-".
func readCommentBody(ios *IOStreams, env *Env, bodyFile string) (string, error) {
	var raw []byte
	var err error
	if bodyFile == "-" || bodyFile == "" {
		raw, err = io.ReadAll(ios.In)
	} else {
		raw, err = os.ReadFile(env.path(bodyFile))
		if errors.Is(err, os.ErrNotExist) {
			return "", repo.Userf("--body-file %s does not exist", bodyFile)
		}
	}
	if err != nil {
		return "", err
	}
	body := strings.TrimSpace(string(raw))
	if body == "" {
		return "", repo.Userf("the comment body is empty (--body-file %s)", bodyFile)
	}
	return body, nil
}

// postComment appends the body to the job summary and creates or updates
// the token's own comment of the marker. A read-only token (a fork's pull
// request) cannot comment: that is a warning, not a failure; every other
// refusal is an error.
func postComment(ctx context.Context, ios *IOStreams, env pullrequest.Env, marker, comment, body string) error {
	summaryWritten := false
	if env.StepSummary != "" {
		if err := pullrequest.AppendStepSummary(env.StepSummary, reports.FitStepSummary(body)); err != nil {
			fmt.Fprintf(ios.ErrOut, "warning: %v\n", err)
		} else {
			summaryWritten = true
		}
	}
	pr, err := pullrequest.Open(env)
	if err != nil {
		return err
	}
	res, err := pr.Upsert(ctx, marker, comment)
	if errors.Is(err, pullrequest.ErrReadOnly) {
		where := "the report was not posted anywhere (GITHUB_STEP_SUMMARY is not set)"
		if summaryWritten {
			where = "the report is in the job summary only"
		}
		fmt.Fprintf(ios.ErrOut, "warning: %v\n  pull requests from forks get a read-only GITHUB_TOKEN; %s\n", err, where)
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(ios.Out, "%s comment %d on %s/%s#%d as %s %s\n", res.Action, res.ID, pr.Owner, pr.Repo, pr.Number, pr.Login, res.URL)
	return nil
}

// commentMarkdownOptions are the options of diff's markdown, which is the
// pull-request comment: commit links and the job's link inside GitHub
// Actions, and what the run record in this checkout adds (provenance,
// guardrails, the regressed cases' answers and rerun commands).
func commentMarkdownOptions(env *Env, evalsDir, evalsRel string, d *reports.DiffReport) reports.DiffMarkdownOptions {
	mo := reports.DiffMarkdownOptions{ToolVersion: toolVersion()}
	if server, ghRepo := env.Getenv("GITHUB_SERVER_URL"), env.Getenv("GITHUB_REPOSITORY"); server != "" && ghRepo != "" {
		mo.CommitURL = strings.TrimRight(server, "/") + "/" + ghRepo + "/commit/"
	}
	eo := reports.PREvidenceOptions{EvalsDir: evalsDir, EvalsRel: evalsRel, Getenv: env.Getenv}
	if git, err := gitstore.Open(evalsDir); err == nil {
		eo.Head, _ = git.ResolveCommit("HEAD")
	}
	mo.Evidence = reports.GatherPREvidence(d, eo)
	return mo
}
