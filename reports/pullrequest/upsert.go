package pullrequest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/google/go-github/v93/github"

	"github.com/selfevals/selfevals/repo"
)

// ErrReadOnly is returned when the token may read the pull request but not
// comment on it: GitHub answers 403 "Resource not accessible by
// integration", as it does for the read-only GITHUB_TOKEN of a pull
// request from a fork.
var ErrReadOnly = errors.New("the token cannot comment on this pull request")

// ActionsBot is who GITHUB_TOKEN posts as: the login to look for when
// neither REST nor GraphQL says who the token is.
const ActionsBot = "github-actions[bot]"

// Result says what Upsert did.
type Result struct {
	Action string // created or updated
	ID     int64
	URL    string
}

// Upsert updates the token's own comment whose body starts with marker, or
// creates one. A comment is ours only when both the marker and the author
// match: a comment anyone else wrote is never edited, whatever it holds.
//
// Two runs racing on one pull request can both find nothing and both
// create. So after creating, Upsert reads the comments again: when an
// older comment of ours has the marker, it gets the body and the one just
// created is deleted. Each run deletes only what it created, and both end
// on the oldest, so one comment is left.
func (pr *PullRequest) Upsert(ctx context.Context, marker, body string) (Result, error) {
	if err := pr.identify(ctx); err != nil {
		return Result{}, err
	}
	own, err := pr.ownComments(ctx, marker)
	if err != nil {
		return Result{}, err
	}
	if len(own) > 0 {
		return pr.update(ctx, own[0], body)
	}
	c, _, err := pr.client.Issues.CreateComment(ctx, pr.Owner, pr.Repo, pr.Number, github.IssueCommentRequest{Body: body})
	if err != nil {
		return Result{}, pr.explain("comment on", err)
	}
	created := Result{Action: "created", ID: c.GetID(), URL: c.GetHTMLURL()}
	own, err = pr.ownComments(ctx, marker)
	if err != nil || len(own) == 0 || own[0].GetID() >= created.ID {
		return created, err
	}
	res, err := pr.update(ctx, own[0], body)
	if err != nil {
		return Result{}, err
	}
	if _, err := pr.client.Issues.DeleteComment(ctx, pr.Owner, pr.Repo, created.ID); err != nil {
		return Result{}, pr.explain("delete the duplicate comment on", err)
	}
	return res, nil
}

func (pr *PullRequest) update(ctx context.Context, c *github.IssueComment, body string) (Result, error) {
	u, _, err := pr.client.Issues.UpdateComment(ctx, pr.Owner, pr.Repo, c.GetID(), github.IssueCommentRequest{Body: body})
	if err != nil {
		return Result{}, pr.explain("update the comment on", err)
	}
	return Result{Action: "updated", ID: u.GetID(), URL: u.GetHTMLURL()}, nil
}

// ownComments lists the pull request's comments page by page and keeps
// the token's own that start with marker, oldest first.
func (pr *PullRequest) ownComments(ctx context.Context, marker string) ([]*github.IssueComment, error) {
	opts := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 100}}
	var own []*github.IssueComment
	for {
		comments, resp, err := pr.client.Issues.ListComments(ctx, pr.Owner, pr.Repo, pr.Number, opts)
		if err != nil {
			return nil, pr.explain("list the comments of", err)
		}
		for _, c := range comments {
			if sameLogin(c.GetUser().GetLogin(), pr.Login) && strings.HasPrefix(strings.TrimSpace(c.GetBody()), marker) {
				own = append(own, c)
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	slices.SortFunc(own, func(a, b *github.IssueComment) int { return cmp.Compare(a.GetID(), b.GetID()) })
	return own, nil
}

// sameLogin compares logins as GitHub does (without case), and a bot's
// GraphQL login ("github-actions") with its REST one ("github-actions[bot]").
func sameLogin(a, b string) bool {
	norm := func(s string) string { return strings.TrimSuffix(strings.ToLower(s), "[bot]") }
	return a != "" && norm(a) == norm(b)
}

// identify sets Login: REST GET /user, which an installation token (the
// Actions GITHUB_TOKEN) may not call, then the GraphQL viewer, then the
// Actions bot. A refused token is an error; anything else falls through.
func (pr *PullRequest) identify(ctx context.Context) error {
	if pr.Login != "" {
		return nil
	}
	u, _, err := pr.client.Users.Get(ctx, "")
	if err == nil && u.GetLogin() != "" {
		pr.Login = u.GetLogin()
		return nil
	}
	if status(err) == http.StatusUnauthorized {
		return pr.explain("read the identity of the token for", err)
	}
	if login, err := pr.viewer(ctx); err == nil && login != "" {
		pr.Login = login
		return nil
	} else if status(err) == http.StatusUnauthorized {
		return pr.explain("read the identity of the token for", err)
	}
	pr.Login = ActionsBot
	return nil
}

// viewer asks GraphQL who the token is.
func (pr *PullRequest) viewer(ctx context.Context) (string, error) {
	req, err := pr.client.NewRequest(ctx, http.MethodPost, pr.graphQL, map[string]string{"query": "query { viewer { login } }"})
	if err != nil {
		return "", err
	}
	var out struct {
		Data struct {
			Viewer struct {
				Login string `json:"login"`
			} `json:"viewer"`
		} `json:"data"`
	}
	if _, err := pr.client.Do(req, &out); err != nil {
		return "", err
	}
	return out.Data.Viewer.Login, nil
}

// status is the HTTP status of an API error, or 0.
func status(err error) int {
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		return er.Response.StatusCode
	}
	var rl *github.RateLimitError
	if errors.As(err, &rl) && rl.Response != nil {
		return rl.Response.StatusCode
	}
	var abuse *github.AbuseRateLimitError
	if errors.As(err, &abuse) && abuse.Response != nil {
		return abuse.Response.StatusCode
	}
	return 0
}

// readOnlyMessages are what GitHub answers, with 403, to a token that may
// read but not write: the GITHUB_TOKEN of a fork's pull request, or a
// fine-grained token without write access.
var readOnlyMessages = []string{"Resource not accessible by integration", "Resource not accessible by personal access token"}

// explain turns an API error into one that says what to do: 404 and 401
// are user errors naming the URL and the variable to check, the read-only
// 403 wraps ErrReadOnly, and any other answer stays an error.
func (pr *PullRequest) explain(what string, err error) error {
	where := fmt.Sprintf("%s/%s#%d", pr.Owner, pr.Repo, pr.Number)
	var er *github.ErrorResponse
	if !errors.As(err, &er) || er.Response == nil {
		return fmt.Errorf("%s %s: %w", what, where, err)
	}
	tried := ""
	if r := er.Response.Request; r != nil {
		u := *r.URL
		u.RawQuery = ""
		tried = r.Method + " " + u.String()
	}
	switch s := er.Response.StatusCode; {
	case s == http.StatusNotFound:
		return &repo.UserError{Msg: fmt.Sprintf("repository or pull request not found: %s answered 404 (%s %s)", tried, what, where),
			Hint: "check GITHUB_REPOSITORY, the pull request number in GITHUB_EVENT_PATH and GITHUB_API_URL; GitHub also answers 404 to a token that cannot see a private repository"}
	case s == http.StatusUnauthorized:
		return &repo.UserError{Msg: fmt.Sprintf("GITHUB_TOKEN was refused: %s answered 401 %s", tried, er.Message),
			Hint: "pass a valid token (env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}); an expired or revoked token gets 401"}
	case s == http.StatusForbidden && slices.Contains(readOnlyMessages, er.Message):
		return fmt.Errorf("%w: %s %s: HTTP 403 %s", ErrReadOnly, what, where, er.Message)
	}
	return fmt.Errorf("%s %s: %s: %w", what, where, tried, err)
}
