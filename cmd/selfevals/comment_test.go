package main

import (
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode/utf16"

	"github.com/selfevals/selfevals/reports"
)

// commentEnv points comment at the fake API, as GitHub Actions would set
// the environment for a pull_request event.
func commentEnv(t *testing.T, apiURL string) (env *Env, summary string) {
	dir := t.TempDir()
	event := filepath.Join(dir, "event.json")
	os.WriteFile(event, []byte(`{"action":"synchronize","number":7,"pull_request":{"number":7,"head":{"sha":"abc"}}}`), 0o644)
	summary = filepath.Join(dir, "summary.md")
	return &Env{Dir: dir, Vars: map[string]string{
		"GITHUB_TOKEN":        "test-token",
		"GITHUB_REPOSITORY":   "owner/repo",
		"GITHUB_EVENT_PATH":   event,
		"GITHUB_EVENT_NAME":   "pull_request",
		"GITHUB_API_URL":      apiURL + "/api/v3",
		"GITHUB_STEP_SUMMARY": summary,
	}}, summary
}

// withVar is a copy of env with the variable key set to value.
func withVar(env *Env, key, value string) *Env {
	vars := maps.Clone(env.Vars)
	vars[key] = value
	return &Env{Dir: env.Dir, Vars: vars}
}

// postBody writes body to a file under env's directory and runs comment
// --github --key evals on it.
func postBody(t *testing.T, env *Env, body string) (string, string, int) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "diff.md")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return runEnv(t, env, "comment", "--github", "--body-file", p, "--key", "evals")
}

func TestCommentCreatesThenUpdates(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t)
	// A busy pull request: a full first page of other comments, so the
	// selfevals comment lands on page 2.
	for i := range 100 {
		gh.add(person, fmt.Sprintf("review comment %d", i))
	}
	gh.comments[3].Body = "> <!-- selfevals:evals -->\n> quoted by a person: not ours"
	srv := httptest.NewServer(gh)
	defer srv.Close()
	env, summary := commentEnv(t, srv.URL)

	out, errOut, code := postBody(t, env, "### ✅ no regressions; 1 case fixed\n\nfirst run\n")
	if code != 0 || !strings.Contains(out, "created comment 1101 on owner/repo#7") || !strings.Contains(out, "as github-actions") {
		t.Fatalf("first comment: exit %d\n%s%s", code, out, errOut)
	}
	comments, _ := gh.snapshot()
	if len(comments) != 101 || !strings.HasPrefix(comments[100].Body, "<!-- selfevals:evals -->\n### ✅ no regressions") {
		t.Fatalf("after the first call: %d comments, last %q", len(comments), comments[len(comments)-1].Body)
	}

	out, errOut, code = postBody(t, env, "### ❌ 1 regression in support\n\nsecond run\n")
	if code != 0 || !strings.Contains(out, "updated comment 1101") {
		t.Fatalf("second comment: exit %d\n%s%s", code, out, errOut)
	}
	comments, requests := gh.snapshot()
	if len(comments) != 101 || comments[100].Body != "<!-- selfevals:evals -->\n### ❌ 1 regression in support\n\nsecond run" {
		t.Errorf("after the second call: %d comments, ours %q", len(comments), comments[100].Body)
	}
	if comments[3].Body != "> <!-- selfevals:evals -->\n> quoted by a person: not ours" {
		t.Error("a person's comment quoting the marker was edited")
	}
	var sawPage2, sawPatch, sawUser, sawGraphQL bool
	for _, r := range requests {
		sawPage2 = sawPage2 || strings.HasPrefix(r, "GET ") && strings.Contains(r, "page=2")
		sawPatch = sawPatch || r == "PATCH /api/v3/repos/owner/repo/issues/comments/1101"
		sawUser = sawUser || r == "GET /api/v3/user"
		sawGraphQL = sawGraphQL || r == "POST /api/graphql"
	}
	if !sawPage2 || !sawPatch || !sawUser || !sawGraphQL {
		t.Errorf("requests did not ask who the token is, page to 2 and patch 1101:\n%s", strings.Join(requests, "\n"))
	}

	// Another key keeps its own comment.
	p := filepath.Join(env.Dir, "nightly.md")
	os.WriteFile(p, []byte("nightly"), 0o644)
	_, _, code = runEnv(t, env, "comment", "--github", "--body-file", p, "--key", "nightly")
	if comments, _ = gh.snapshot(); code != 0 || len(comments) != 102 || !strings.HasPrefix(comments[101].Body, "<!-- selfevals:nightly -->") {
		t.Errorf("another key: exit %d, %d comments", code, len(comments))
	}

	s, err := os.ReadFile(summary)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(s), "first run") != 1 || strings.Count(string(s), "second run") != 1 {
		t.Errorf("step summary:\n%s", s)
	}
}

// Anyone can write the marker; only the token's own comment is updated.
// A person's comment starting with it, and (for a personal access token)
// an older comment of the Actions bot, are left alone.
func TestCommentNeverEditsAnotherAuthorsComment(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t)
	squatter := "<!-- selfevals:evals -->\n### ✅ no regressions (posted by a person to silence the bot)"
	gh.add(person, squatter)
	botsOld := "<!-- selfevals:evals -->\nwritten with GITHUB_TOKEN before the repository switched to a personal token"
	gh.add(actionsBot, botsOld)
	srv := httptest.NewServer(gh)
	defer srv.Close()
	env, _ := commentEnv(t, srv.URL)

	out, errOut, code := postBody(t, env, "### ❌ 1 regression in support\n")
	if code != 0 || !strings.Contains(out, "updated comment 1002") {
		t.Fatalf("installation token: exit %d\n%s%s", code, out, errOut)
	}
	pat := withVar(env, "GITHUB_TOKEN", personalToken)
	out, errOut, code = postBody(t, pat, "### ❌ 2 regressions in support\n")
	if code != 0 || !strings.Contains(out, "created comment 1003") || !strings.Contains(out, "as selfevals-bot") {
		t.Fatalf("personal token: exit %d\n%s%s", code, out, errOut)
	}
	out, _, _ = postBody(t, pat, "### ❌ 3 regressions in support\n")
	comments, _ := gh.snapshot()
	if !strings.Contains(out, "updated comment 1003") || len(comments) != 3 {
		t.Fatalf("second personal-token run: %s, %d comments", out, len(comments))
	}
	if comments[0].Body != squatter {
		t.Errorf("the person's comment was edited: %q", comments[0].Body)
	}
	if !strings.HasSuffix(comments[1].Body, "1 regression in support") || !strings.HasSuffix(comments[2].Body, "3 regressions in support") {
		t.Errorf("bodies: %q, %q", comments[1].Body, comments[2].Body)
	}
}

// A pull request from a fork gets a read-only token: the comment fails with
// 403 "Resource not accessible by integration", the report still reaches
// the job summary, and the step succeeds with a warning.
func TestCommentReadOnlyTokenFallsBackToTheSummary(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t)
	gh.readOnly = true
	srv := httptest.NewServer(gh)
	defer srv.Close()
	env, summary := commentEnv(t, srv.URL)
	out, errOut, code := postBody(t, env, "### ✅ no regressions\n")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "warning:") || !strings.Contains(errOut, "HTTP 403 Resource not accessible by integration") || !strings.Contains(errOut, "read-only GITHUB_TOKEN") || !strings.Contains(errOut, "job summary only") {
		t.Errorf("warning = %q", errOut)
	}
	if s, _ := os.ReadFile(summary); !strings.Contains(string(s), "### ✅ no regressions") {
		t.Errorf("step summary = %q", s)
	}
	if comments, _ := gh.snapshot(); len(comments) != 0 {
		t.Errorf("comments = %v", comments)
	}
}

// Errors are told apart: a wrong pull request is 404 and a bad token 401
// (both exit 2, naming what to check), a 403 that is not the read-only
// one is an error (exit 1), never the fork warning.
func TestCommentAPIErrorsByKind(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t)
	srv := httptest.NewServer(gh)
	defer srv.Close()
	env, _ := commentEnv(t, srv.URL)

	wrongPR := filepath.Join(env.Dir, "event8.json")
	os.WriteFile(wrongPR, []byte(`{"number":8,"pull_request":{"number":8}}`), 0o644)
	_, errOut, code := postBody(t, withVar(env, "GITHUB_EVENT_PATH", wrongPR), "hello")
	if code != 2 || !strings.Contains(errOut, "repository or pull request not found: GET "+srv.URL+"/api/v3/repos/owner/repo/issues/8/comments answered 404") || strings.Contains(errOut, "warning") {
		t.Errorf("wrong pull request: exit %d %q", code, errOut)
	}
	wrongAPI := withVar(env, "GITHUB_API_URL", srv.URL+"/api/v3/nope")
	if _, errOut, code = postBody(t, wrongAPI, "hello"); code != 2 || !strings.Contains(errOut, "repository or pull request not found") {
		t.Errorf("wrong API URL: exit %d %q", code, errOut)
	}
	_, errOut, code = postBody(t, withVar(env, "GITHUB_TOKEN", "expired"), "hello")
	if code != 2 || !strings.Contains(errOut, "GITHUB_TOKEN was refused: GET "+srv.URL+"/api/v3/user answered 401 Bad credentials") {
		t.Errorf("bad token: exit %d %q", code, errOut)
	}
	gh.fail("POST "+fakeList, http.StatusForbidden, nil, `{"message":"Resource protected by organization SAML enforcement. You must grant your Personal Access token access to this organization."}`)
	_, errOut, code = postBody(t, env, "hello")
	if code != 1 || !strings.Contains(errOut, "SAML enforcement") || strings.Contains(errOut, "warning") {
		t.Errorf("another 403: exit %d %q", code, errOut)
	}
	if comments, _ := gh.snapshot(); len(comments) != 0 {
		t.Errorf("comments = %v", comments)
	}
}

// Server errors and secondary rate limits are retried (after the
// Retry-After GitHub names); the comment is posted once.
func TestCommentRetries(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t)
	srv := httptest.NewServer(gh)
	defer srv.Close()
	env, _ := commentEnv(t, srv.URL)
	gh.fail("GET "+fakeList, http.StatusBadGateway, nil, `<html>502 Bad Gateway</html>`)
	gh.fail("GET "+fakeList, http.StatusServiceUnavailable, nil, `{"message":"Service Unavailable"}`)
	gh.fail("POST "+fakeList, http.StatusForbidden, map[string]string{"Retry-After": "1"},
		`{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}`)
	out, errOut, code := postBody(t, env, "hello")
	if code != 0 || !strings.Contains(out, "created comment") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	comments, requests := gh.snapshot()
	posts := 0
	for _, r := range requests {
		if strings.HasPrefix(r, "POST /api/v3/") {
			posts++
		}
	}
	if len(comments) != 1 || posts != 2 {
		t.Errorf("%d comments after %d POSTs:\n%s", len(comments), posts, strings.Join(requests, "\n"))
	}

	// A server that keeps failing is given up on, with the status.
	for range 4 {
		gh.fail("GET "+fakeList, http.StatusInternalServerError, nil, `{"message":"Server Error"}`)
	}
	if _, errOut, code = postBody(t, env, "again"); code != 1 || !strings.Contains(errOut, "500") {
		t.Errorf("a failing server: exit %d %q", code, errOut)
	}
}

// Two runs of one pull request that overlap, both finding no comment and
// both creating one, end with one comment.
func TestCommentRacingRunsLeaveOneComment(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t)
	gh.racers = 2
	srv := httptest.NewServer(gh)
	defer srv.Close()
	env, _ := commentEnv(t, srv.URL)
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, codes[i] = postBody(t, env, fmt.Sprintf("run %d", i))
		}()
	}
	wg.Wait()
	comments, requests := gh.snapshot()
	creates := 0
	for _, r := range requests {
		if strings.HasPrefix(r, "POST "+fakeList) {
			creates++
		}
	}
	if codes[0] != 0 || codes[1] != 0 || creates != 2 {
		t.Fatalf("exits %v, %d creates", codes, creates)
	}
	if len(comments) != 1 || comments[0].ID != 1001 || !strings.HasPrefix(comments[0].Body, "<!-- selfevals:evals -->\nrun ") {
		t.Errorf("comments = %+v\n%s", comments, strings.Join(requests, "\n"))
	}
}

func TestCommentErrors(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t)
	srv := httptest.NewServer(gh)
	defer srv.Close()
	env, _ := commentEnv(t, srv.URL)
	dir := env.Dir
	body := filepath.Join(dir, "diff.md")
	os.WriteFile(body, []byte("hello\n"), 0o644)

	// Without --github: print what would be posted.
	out, _, code := runEnv(t, env, "comment", "--body-file", body, "--key", "evals")
	if code != 0 || out != "<!-- selfevals:evals -->\nhello\n" {
		t.Errorf("dry run: exit %d %q", code, out)
	}
	for _, tc := range []struct {
		env, value, want string
	}{
		{"GITHUB_TOKEN", "", "GITHUB_TOKEN is not set"},
		{"GITHUB_REPOSITORY", "", "GITHUB_REPOSITORY is not set"},
		{"GITHUB_REPOSITORY", "just-a-name", "is not owner/name"},
		{"GITHUB_EVENT_PATH", "", "GITHUB_EVENT_PATH is not set"},
		{"GITHUB_EVENT_PATH", filepath.Join(dir, "missing.json"), "GITHUB_EVENT_PATH"},
	} {
		t.Run(tc.env+"="+tc.value, func(t *testing.T) {
			_, errOut, code := runEnv(t, withVar(env, tc.env, tc.value), "comment", "--github", "--body-file", body)
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 with %q", code, errOut, tc.want)
			}
		})
	}
	push := filepath.Join(dir, "push.json")
	os.WriteFile(push, []byte(`{"ref":"refs/heads/main","after":"abc"}`), 0o644)
	pushEnv := withVar(withVar(env, "GITHUB_EVENT_PATH", push), "GITHUB_EVENT_NAME", "push")
	if _, errOut, code := runEnv(t, pushEnv, "comment", "--github", "--body-file", body); code != 2 || !strings.Contains(errOut, "event push) is not about a pull request") {
		t.Errorf("push event: exit %d %q", code, errOut)
	}
	for _, args := range [][]string{
		{"comment", "--body-file", filepath.Join(dir, "nope.md")},
		{"comment", "--body-file", body, "--key", "bad key -->"},
	} {
		if _, _, code := runEnv(t, env, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	empty := filepath.Join(dir, "empty.md")
	os.WriteFile(empty, []byte("\n  \n"), 0o644)
	if _, errOut, code := runEnv(t, env, "comment", "--body-file", empty); code != 2 || !strings.Contains(errOut, "empty") {
		t.Errorf("empty body: exit %d %q", code, errOut)
	}
}

// A body over GitHub's limit is posted without its last sections, whole,
// with a note; the job summary keeps everything.
func TestCommentFitsTheLimit(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t)
	srv := httptest.NewServer(gh)
	defer srv.Close()
	env, summary := commentEnv(t, srv.URL)
	var b strings.Builder
	b.WriteString("### ❌ 3 regressions in big\n\n| experiment | verdict |\n|---|---|\n| `big` | ❌ worse |\n\n")
	for i := range 8 {
		fmt.Fprintf(&b, "<details><summary>Section %d</summary>\n\n| case | reason |\n|---|---|\n", i)
		for j := range 120 {
			fmt.Fprintf(&b, "| case %d.%d 🙂 | %s |\n", i, j, strings.Repeat("x", 80))
		}
		b.WriteString("\n</details>\n\n")
	}
	full := b.String()
	if utf16Count(full) <= reports.CommentLimit {
		t.Fatalf("the fixture is only %d characters", utf16Count(full))
	}
	body := filepath.Join(env.Dir, "big.md")
	os.WriteFile(body, []byte(full), 0o644)
	if _, errOut, code := runEnv(t, env, "comment", "--github", "--body-file", body, "--key", "big"); code != 0 {
		t.Fatalf("exit %d %s", code, errOut)
	}
	comments, _ := gh.snapshot()
	got := comments[0].Body
	if n := utf16Count(got); n > reports.CommentLimit {
		t.Errorf("posted %d characters", n)
	}
	if !strings.Contains(got, "Section 0") || strings.Contains(got, "Section 7</summary>") {
		t.Error("sections were not dropped from the end")
	}
	if !strings.Contains(got, "Shortened to fit the 65,536-character limit") || !strings.Contains(got, "*Section 7*") {
		t.Errorf("no note naming the dropped sections:\n%s", got[len(got)-400:])
	}
	if strings.Count(got, "<details>") != strings.Count(got, "</details>") {
		t.Error("a section was cut in the middle")
	}
	if s, _ := os.ReadFile(summary); !strings.Contains(string(s), "Section 7</summary>") {
		t.Error("the step summary lost sections")
	}
}

func utf16Count(s string) int { return len(utf16.Encode([]rune(s))) }
