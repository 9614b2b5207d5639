package main

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goccy/go-json"
)

// fakeGitHub is the part of the GitHub API that comment uses, behaving as
// GitHub does for the comments of one pull request (owner/repo#7):
// tokens map to identities (an installation token may not call GET /user
// and is the Actions bot in GraphQL, without "[bot]"), every comment has an
// author, lists are paginated with Link: rel="next", an unknown pull
// request is 404, a bad token 401, a fork's read-only token 403.
type fakeGitHub struct {
	mu       sync.Mutex
	t        *testing.T
	comments []fakeComment
	nextID   int64
	readOnly bool
	// faults are answered, in order, to the requests whose "METHOD path"
	// they name, before the request is served.
	faults   map[string][]fakeFault
	requests []string // "METHOD path?query"
	// racers, when set, holds each POST of a comment until that many
	// have arrived: runs that all found nothing all create.
	racers  int
	posting int
	release chan struct{}
}

type fakeFault struct {
	status int
	header map[string]string
	body   string
}

type fakeUser struct {
	Login string `json:"login"`
	Type  string `json:"type"`
}

type fakeComment struct {
	ID   int64    `json:"id"`
	Body string   `json:"body"`
	URL  string   `json:"html_url"`
	User fakeUser `json:"user"`
}

// The fake's tokens: the Actions GITHUB_TOKEN (an installation token) and
// a personal access token of the user "selfevals-bot".
const (
	installationToken = "test-token"
	personalToken     = "pat-token"
)

var (
	actionsBot = fakeUser{Login: "github-actions[bot]", Type: "Bot"}
	patUser    = fakeUser{Login: "selfevals-bot", Type: "User"}
	person     = fakeUser{Login: "mallory", Type: "User"}
)

const (
	fakeList     = "/api/v3/repos/owner/repo/issues/7/comments"
	fakeComment1 = "/api/v3/repos/owner/repo/issues/comments/"
)

func newFakeGitHub(t *testing.T) *fakeGitHub {
	return &fakeGitHub{t: t, nextID: 1000, faults: map[string][]fakeFault{}}
}

// add appends a comment by user, as if posted before the run.
func (f *fakeGitHub) add(user fakeUser, body string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	f.comments = append(f.comments, fakeComment{ID: f.nextID, Body: body, User: user})
	return f.nextID
}

// fail queues a fault for the next request of "METHOD path".
func (f *fakeGitHub) fail(route string, status int, header map[string]string, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[route] = append(f.faults[route], fakeFault{status, header, body})
}

func (f *fakeGitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && r.URL.Path == fakeList {
		f.waitForRacers()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.Method+" "+r.URL.RequestURI())
	w.Header().Set("Content-Type", "application/json")
	route := r.Method + " " + r.URL.Path
	if q := f.faults[route]; len(q) > 0 {
		f.faults[route] = q[1:]
		for k, v := range q[0].header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(q[0].status)
		fmt.Fprint(w, q[0].body)
		return
	}
	var user fakeUser
	switch r.Header.Get("Authorization") {
	case "Bearer " + installationToken:
		user = actionsBot
	case "Bearer " + personalToken:
		user = patUser
	default:
		writeFake(w, http.StatusUnauthorized, `{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest"}`)
		return
	}
	f.serve(w, r, user)
}

func (f *fakeGitHub) serve(w http.ResponseWriter, r *http.Request, user fakeUser) {
	notAccessible := `{"message":"Resource not accessible by integration","documentation_url":"https://docs.github.com/rest"}`
	switch {
	case strings.HasPrefix(r.URL.Path, "/api/v3/nope/"): // a wrong GITHUB_API_URL
		writeFake(w, http.StatusNotFound, `{"message":"Not Found"}`)
	case r.Method == http.MethodGet && r.URL.Path == "/api/v3/user":
		if user == actionsBot {
			writeFake(w, http.StatusForbidden, notAccessible)
			return
		}
		json.NewEncoder(w).Encode(user)
	case r.Method == http.MethodPost && r.URL.Path == "/api/graphql":
		json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"viewer": map[string]string{"login": strings.TrimSuffix(user.Login, "[bot]")}}})
	case strings.HasPrefix(r.URL.Path, "/api/v3/repos/owner/repo/issues/") && strings.HasSuffix(r.URL.Path, "/comments") && r.URL.Path != fakeList:
		writeFake(w, http.StatusNotFound, `{"message":"Not Found","documentation_url":"https://docs.github.com/rest/issues/comments"}`)
	case r.Method == http.MethodGet && r.URL.Path == fakeList:
		f.list(w, r)
	case f.readOnly && (r.Method == http.MethodPost || r.Method == http.MethodPatch || r.Method == http.MethodDelete):
		writeFake(w, http.StatusForbidden, notAccessible)
	case r.Method == http.MethodPost && r.URL.Path == fakeList:
		var req struct{ Body string }
		json.NewDecoder(r.Body).Decode(&req)
		f.nextID++
		c := fakeComment{ID: f.nextID, Body: req.Body, User: user, URL: fmt.Sprintf("https://github.example/owner/repo/pull/7#issuecomment-%d", f.nextID)}
		f.comments = append(f.comments, c)
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(c)
	case strings.HasPrefix(r.URL.Path, fakeComment1) && (r.Method == http.MethodPatch || r.Method == http.MethodDelete):
		f.edit(w, r, user)
	default:
		f.t.Errorf("unexpected request %s %s", r.Method, r.URL)
		writeFake(w, http.StatusNotFound, `{"message":"Not Found"}`)
	}
}

func (f *fakeGitHub) list(w http.ResponseWriter, r *http.Request) {
	per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	per, page = cmpOr(per, 30), cmpOr(page, 1)
	lo, hi := min((page-1)*per, len(f.comments)), min(page*per, len(f.comments))
	if hi < len(f.comments) {
		w.Header().Set("Link", fmt.Sprintf(`<http://%s%s?per_page=%d&page=%d>; rel="next"`, r.Host, fakeList, per, page+1))
	}
	json.NewEncoder(w).Encode(f.comments[lo:hi])
}

// edit updates or deletes a comment; as on GitHub, only its author may.
func (f *fakeGitHub) edit(w http.ResponseWriter, r *http.Request, user fakeUser) {
	id, _ := strconv.ParseInt(strings.TrimPrefix(r.URL.Path, fakeComment1), 10, 64)
	for i := range f.comments {
		if f.comments[i].ID != id {
			continue
		}
		if f.comments[i].User != user {
			f.t.Errorf("%s of comment %d by %s, written by %s", r.Method, id, user.Login, f.comments[i].User.Login)
			writeFake(w, http.StatusForbidden, `{"message":"You must be the author"}`)
			return
		}
		if r.Method == http.MethodDelete {
			f.comments = append(f.comments[:i], f.comments[i+1:]...)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		var req struct{ Body string }
		json.NewDecoder(r.Body).Decode(&req)
		f.comments[i].Body = req.Body
		json.NewEncoder(w).Encode(f.comments[i])
		return
	}
	writeFake(w, http.StatusNotFound, `{"message":"Not Found"}`)
}

// waitForRacers holds a POST until racers of them arrived (or a while
// passed, so a broken client fails the test instead of hanging it).
func (f *fakeGitHub) waitForRacers() {
	f.mu.Lock()
	if f.racers == 0 {
		f.mu.Unlock()
		return
	}
	if f.release == nil {
		f.release = make(chan struct{})
	}
	f.posting++
	release := f.release
	if f.posting == f.racers {
		close(release)
	}
	f.mu.Unlock()
	select {
	case <-release:
	case <-time.After(10 * time.Second):
	}
}

func writeFake(w http.ResponseWriter, status int, body string) {
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

func cmpOr(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

func (f *fakeGitHub) snapshot() ([]fakeComment, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeComment(nil), f.comments...), append([]string(nil), f.requests...)
}
