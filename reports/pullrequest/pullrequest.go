// Package pullrequest keeps one selfevals comment per key up to date on a
// GitHub pull request, through the REST API (google/go-github), and writes
// the job's step summary.
package pullrequest

import (
	"cmp"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/goccy/go-json"
	"github.com/google/go-github/v93/github"

	"github.com/selfevals/selfevals/repo"
)

// Env is what GitHub Actions tells a step about its run.
type Env struct {
	Token       string // GITHUB_TOKEN
	Repository  string // GITHUB_REPOSITORY: owner/name
	EventPath   string // GITHUB_EVENT_PATH: the event's JSON payload
	EventName   string // GITHUB_EVENT_NAME
	APIURL      string // GITHUB_API_URL (https://api.github.com, or …/api/v3 on GHES)
	GraphQLURL  string // GITHUB_GRAPHQL_URL; derived from APIURL when unset
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
		GraphQLURL:  getenv("GITHUB_GRAPHQL_URL"),
		StepSummary: getenv("GITHUB_STEP_SUMMARY"),
	}
}

// PullRequest is a pull request the token can reach.
type PullRequest struct {
	Owner, Repo string
	Number      int
	// Login is who the token posts as, once Upsert has asked.
	Login   string
	client  *github.Client
	graphQL string
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
		github.WithTransport(&retryTransport{base: http.DefaultTransport, backoff: 500 * time.Millisecond, sleep: sleepCtx}),
		github.WithAuthToken(env.Token),
		github.WithURLs(&api, nil),
		github.WithUserAgent("selfevals"),
		github.WithTimeout(60*time.Second),
	)
	if err != nil {
		return nil, repo.Userf("GITHUB_API_URL=%q: %v", env.APIURL, err)
	}
	return &PullRequest{Owner: owner, Repo: name, Number: number, client: client, graphQL: graphQLURL(env)}, nil
}

// graphQLURL is GITHUB_GRAPHQL_URL, or where GitHub serves GraphQL next to
// the REST API: /graphql on github.com, /api/graphql on GHES (/api/v3).
func graphQLURL(env Env) string {
	if env.GraphQLURL != "" {
		return env.GraphQLURL
	}
	api := strings.TrimRight(cmp.Or(env.APIURL, "https://api.github.com"), "/")
	if base, ok := strings.CutSuffix(api, "/api/v3"); ok {
		return base + "/api/graphql"
	}
	return api + "/graphql"
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
	if err := repo.DecodeJSON(raw, &ev); err != nil {
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
