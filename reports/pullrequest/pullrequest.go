// Package pullrequest keeps one selfevals comment per key up to date on a
// GitHub pull request, through the REST API (google/go-github), and writes
// the job's step summary.
package pullrequest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/goccy/go-json"
	"github.com/google/go-github/v93/github"

	"github.com/selfevals/selfevals/repo"
)

// ErrReadOnly is returned when the token may read the pull request but not
// comment on it: GitHub answers 403 or 404, as it does for the read-only
// GITHUB_TOKEN of a pull request from a fork.
var ErrReadOnly = errors.New("the token cannot comment on this pull request")

// Env is what GitHub Actions tells a step about its run.
type Env struct {
	Token       string // GITHUB_TOKEN
	Repository  string // GITHUB_REPOSITORY: owner/name
	EventPath   string // GITHUB_EVENT_PATH: the event's JSON payload
	EventName   string // GITHUB_EVENT_NAME
	APIURL      string // GITHUB_API_URL (https://api.github.com, or …/api/v3 on GHES)
	StepSummary string // GITHUB_STEP_SUMMARY
}

// EnvFrom reads the environment through getenv (os.Getenv).
func EnvFrom(getenv func(string) string) Env {
	return Env{
		Token:       getenv("GITHUB_TOKEN"),
		Repository:  getenv("GITHUB_REPOSITORY"),
		EventPath:   getenv("GITHUB_EVENT_PATH"),
		EventName:   getenv("GITHUB_EVENT_NAME"),
		APIURL:      getenv("GITHUB_API_URL"),
		StepSummary: getenv("GITHUB_STEP_SUMMARY"),
	}
}

// PullRequest is a pull request the token can reach.
type PullRequest struct {
	Owner, Repo string
	Number      int
	client      *github.Client
}

// Open checks the environment, finds the pull request's number in the
// event payload and builds the API client. Anything missing is a user
// error naming the variable to set.
func Open(env Env) (*PullRequest, error) {
	missing := func(name, what string) error {
		return &repo.UserError{Msg: fmt.Sprintf("%s is not set: %s", name, what),
			Hint: "run inside GitHub Actions, or set GITHUB_TOKEN, GITHUB_REPOSITORY and GITHUB_EVENT_PATH (GITHUB_API_URL defaults to https://api.github.com)"}
	}
	if env.Token == "" {
		return nil, missing("GITHUB_TOKEN", "comment needs a token that may write pull-request comments (env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }})")
	}
	if env.Repository == "" {
		return nil, missing("GITHUB_REPOSITORY", "comment needs the repository as owner/name")
	}
	owner, name, ok := strings.Cut(env.Repository, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return nil, repo.Userf("GITHUB_REPOSITORY=%q is not owner/name", env.Repository)
	}
	if env.EventPath == "" {
		return nil, missing("GITHUB_EVENT_PATH", "comment reads the pull request's number from the event payload")
	}
	number, err := eventNumber(env.EventPath)
	if err != nil {
		return nil, err
	}
	if number == 0 {
		event := env.EventName
		if event == "" {
			event = "unknown"
		}
		return nil, &repo.UserError{Msg: fmt.Sprintf("the event in GITHUB_EVENT_PATH (%s, event %s) is not about a pull request", env.EventPath, event),
			Hint: "run comment on pull_request events; on other events the step summary is the place for the report"}
	}
	api := env.APIURL
	if api == "" {
		api = "https://api.github.com"
	}
	client, err := github.NewClient(
		github.WithAuthToken(env.Token),
		github.WithURLs(&api, nil),
		github.WithUserAgent("selfevals"),
		github.WithTimeout(60*time.Second),
	)
	if err != nil {
		return nil, repo.Userf("GITHUB_API_URL=%q: %v", env.APIURL, err)
	}
	return &PullRequest{Owner: owner, Repo: name, Number: number, client: client}, nil
}

// eventNumber is the pull request's number in an event payload:
// pull_request.number (pull_request events), issue.number when the issue is
// a pull request (issue_comment events), or number.
func eventNumber(path string) (int, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, &repo.UserError{Msg: fmt.Sprintf("GITHUB_EVENT_PATH: %v", err)}
	}
	var ev struct {
		Number      int `json:"number"`
		PullRequest *struct {
			Number int `json:"number"`
		} `json:"pull_request"`
		Issue *struct {
			Number      int             `json:"number"`
			PullRequest json.RawMessage `json:"pull_request"`
		} `json:"issue"`
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		return 0, &repo.UserError{Msg: fmt.Sprintf("GITHUB_EVENT_PATH (%s) is not an event payload: %v", path, err)}
	}
	switch {
	case ev.PullRequest != nil && ev.PullRequest.Number > 0:
		return ev.PullRequest.Number, nil
	case ev.Issue != nil && len(ev.Issue.PullRequest) > 0 && string(ev.Issue.PullRequest) != "null":
		return ev.Issue.Number, nil
	case ev.PullRequest != nil:
		return ev.Number, nil
	}
	return 0, nil
}

// Result says what Upsert did.
type Result struct {
	Action string // created or updated
	ID     int64
	URL    string
}

// Upsert updates the comment whose body starts with marker, or creates one.
// The comments are listed page by page (oldest first) until the marker is
// found. body must already hold the marker and fit GitHub's limit.
func (pr *PullRequest) Upsert(ctx context.Context, marker, body string) (Result, error) {
	opts := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 100}}
	var found *github.IssueComment
	for found == nil {
		comments, resp, err := pr.client.Issues.ListComments(ctx, pr.Owner, pr.Repo, pr.Number, opts)
		if err != nil {
			return Result{}, pr.explain("list the comments of", err)
		}
		for _, c := range comments {
			if strings.HasPrefix(strings.TrimSpace(c.GetBody()), marker) {
				found = c
				break
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	req := github.IssueCommentRequest{Body: body}
	if found != nil {
		c, _, err := pr.client.Issues.UpdateComment(ctx, pr.Owner, pr.Repo, found.GetID(), req)
		if err != nil {
			return Result{}, pr.explain("update the comment on", err)
		}
		return Result{Action: "updated", ID: c.GetID(), URL: c.GetHTMLURL()}, nil
	}
	c, _, err := pr.client.Issues.CreateComment(ctx, pr.Owner, pr.Repo, pr.Number, req)
	if err != nil {
		return Result{}, pr.explain("comment on", err)
	}
	return Result{Action: "created", ID: c.GetID(), URL: c.GetHTMLURL()}, nil
}

// explain wraps an API error; 403 and 404 (not a rate limit) wrap
// ErrReadOnly.
func (pr *PullRequest) explain(what string, err error) error {
	var rl *github.RateLimitError
	var abuse *github.AbuseRateLimitError
	var er *github.ErrorResponse
	where := fmt.Sprintf("%s/%s#%d", pr.Owner, pr.Repo, pr.Number)
	if !errors.As(err, &rl) && !errors.As(err, &abuse) && errors.As(err, &er) && er.Response != nil {
		if s := er.Response.StatusCode; s == http.StatusForbidden || s == http.StatusNotFound {
			return fmt.Errorf("%w: %s %s: HTTP %d %s", ErrReadOnly, what, where, s, er.Message)
		}
	}
	return fmt.Errorf("%s %s: %w", what, where, err)
}

// AppendStepSummary appends body to the step summary file (a paragraph of
// its own).
func AppendStepSummary(path, body string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("GITHUB_STEP_SUMMARY: %w", err)
	}
	if _, err := f.WriteString(strings.TrimRight(body, "\n") + "\n\n"); err != nil {
		f.Close()
		return fmt.Errorf("GITHUB_STEP_SUMMARY: %w", err)
	}
	return f.Close()
}
