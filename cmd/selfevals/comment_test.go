package main

import (
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf16"

	"github.com/goccy/go-json"

	"github.com/selfevals/selfevals/reports"
)

// fakeGitHub is the part of the GitHub REST API that comment uses: the
// comments of one pull request (owner/repo#7), paginated like GitHub's
// (Link: rel="next").
type fakeGitHub struct {
	mu       sync.Mutex
	comments []fakeComment
	nextID   int64
	readOnly bool
	requests []string // "METHOD path?query"
	t        *testing.T
}

type fakeComment struct {
	ID   int64  `json:"id"`
	Body string `json:"body"`
	URL  string `json:"html_url"`
}

func (f *fakeGitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.Method+" "+r.URL.RequestURI())
	if got := r.Header.Get("Authorization"); got != "Bearer test-token" {
		http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	deny := func() {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"message":"Resource not accessible by integration","documentation_url":"https://docs.github.com/rest"}`)
	}
	const list = "/api/v3/repos/owner/repo/issues/7/comments"
	switch {
	case r.Method == http.MethodGet && r.URL.Path == list:
		per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		if per <= 0 {
			per = 30
		}
		if page <= 0 {
			page = 1
		}
		lo, hi := min((page-1)*per, len(f.comments)), min(page*per, len(f.comments))
		if hi < len(f.comments) {
			w.Header().Set("Link", fmt.Sprintf(`<http://%s%s?per_page=%d&page=%d>; rel="next"`, r.Host, list, per, page+1))
		}
		json.NewEncoder(w).Encode(f.comments[lo:hi])
	case r.Method == http.MethodPost && r.URL.Path == list:
		if f.readOnly {
			deny()
			return
		}
		var req struct{ Body string }
		json.NewDecoder(r.Body).Decode(&req)
		f.nextID++
		c := fakeComment{ID: f.nextID, Body: req.Body, URL: fmt.Sprintf("https://github.example/owner/repo/pull/7#issuecomment-%d", f.nextID)}
		f.comments = append(f.comments, c)
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(c)
	case r.Method == http.MethodPatch && strings.HasPrefix(r.URL.Path, "/api/v3/repos/owner/repo/issues/comments/"):
		if f.readOnly {
			deny()
			return
		}
		id, _ := strconv.ParseInt(strings.TrimPrefix(r.URL.Path, "/api/v3/repos/owner/repo/issues/comments/"), 10, 64)
		var req struct{ Body string }
		json.NewDecoder(r.Body).Decode(&req)
		for i := range f.comments {
			if f.comments[i].ID == id {
				f.comments[i].Body = req.Body
				json.NewEncoder(w).Encode(f.comments[i])
				return
			}
		}
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
	default:
		f.t.Errorf("unexpected request %s %s", r.Method, r.URL)
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
	}
}

func (f *fakeGitHub) snapshot() ([]fakeComment, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeComment(nil), f.comments...), append([]string(nil), f.requests...)
}

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

func TestCommentCreatesThenUpdates(t *testing.T) {
	t.Parallel()
	gh := &fakeGitHub{t: t, nextID: 1000}
	// A busy pull request: a full first page of other comments, so the
	// selfevals comment lands on page 2.
	for i := range 100 {
		gh.nextID++
		gh.comments = append(gh.comments, fakeComment{ID: gh.nextID, Body: fmt.Sprintf("review comment %d", i)})
	}
	gh.comments[3].Body = "> <!-- selfevals:evals -->\n> quoted by a person: not ours"
	srv := httptest.NewServer(gh)
	defer srv.Close()
	env, summary := commentEnv(t, srv.URL)
	body := filepath.Join(env.Dir, "diff.md")

	os.WriteFile(body, []byte("### ✅ no regressions; 1 case fixed\n\nfirst run\n"), 0o644)
	out, errOut, code := runEnv(t, env, "comment", "--github", "--body-file", body, "--key", "evals")
	if code != 0 || !strings.Contains(out, "created comment 1101 on owner/repo#7") {
		t.Fatalf("first comment: exit %d\n%s%s", code, out, errOut)
	}
	comments, _ := gh.snapshot()
	if len(comments) != 101 || !strings.HasPrefix(comments[100].Body, "<!-- selfevals:evals -->\n### ✅ no regressions") {
		t.Fatalf("after the first call: %d comments, last %q", len(comments), comments[len(comments)-1].Body)
	}

	os.WriteFile(body, []byte("### ❌ 1 regression in support\n\nsecond run\n"), 0o644)
	out, errOut, code = runEnv(t, env, "comment", "--github", "--body-file", body, "--key", "evals")
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
	var sawPage2, sawPatch bool
	for _, r := range requests {
		sawPage2 = sawPage2 || strings.HasPrefix(r, "GET ") && strings.Contains(r, "page=2")
		sawPatch = sawPatch || r == "PATCH /api/v3/repos/owner/repo/issues/comments/1101"
	}
	if !sawPage2 || !sawPatch {
		t.Errorf("requests did not page to 2 and patch 1101:\n%s", strings.Join(requests, "\n"))
	}

	// Another key keeps its own comment.
	_, _, code = runEnv(t, env, "comment", "--github", "--body-file", body, "--key", "nightly")
	if comments, _ = gh.snapshot(); code != 0 || len(comments) != 102 || !strings.HasPrefix(comments[101].Body, "<!-- selfevals:nightly -->") {
		t.Errorf("another key: exit %d, %d comments", code, len(comments))
	}

	s, err := os.ReadFile(summary)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(s), "first run") != 1 || strings.Count(string(s), "second run") != 2 {
		t.Errorf("step summary:\n%s", s)
	}
}

// A pull request from a fork gets a read-only token: the comment fails with
// 403, the report still reaches the job summary, and the step succeeds.
func TestCommentReadOnlyTokenFallsBackToTheSummary(t *testing.T) {
	t.Parallel()
	gh := &fakeGitHub{t: t, readOnly: true}
	srv := httptest.NewServer(gh)
	defer srv.Close()
	env, summary := commentEnv(t, srv.URL)
	body := filepath.Join(env.Dir, "diff.md")
	os.WriteFile(body, []byte("### ✅ no regressions\n"), 0o644)
	out, errOut, code := runEnv(t, env, "comment", "--github", "--body-file", body, "--key", "evals")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "warning:") || !strings.Contains(errOut, "HTTP 403") || !strings.Contains(errOut, "read-only GITHUB_TOKEN") || !strings.Contains(errOut, "job summary only") {
		t.Errorf("warning = %q", errOut)
	}
	if s, _ := os.ReadFile(summary); !strings.Contains(string(s), "### ✅ no regressions") {
		t.Errorf("step summary = %q", s)
	}
	if comments, _ := gh.snapshot(); len(comments) != 0 {
		t.Errorf("comments = %v", comments)
	}
}

func TestCommentErrors(t *testing.T) {
	t.Parallel()
	gh := &fakeGitHub{t: t}
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
	gh := &fakeGitHub{t: t}
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
