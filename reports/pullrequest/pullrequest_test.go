package pullrequest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/selfevals/selfevals/repo"
)

func TestEventNumber(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, payload string
		want          int
	}{
		{"pull_request", `{"number":12,"pull_request":{"number":12}}`, 12},
		{"pull_request_target", `{"pull_request":{"number":5,"base":{"ref":"main"}}}`, 5},
		{"issue_comment on a PR", `{"issue":{"number":9,"pull_request":{"url":"x"}},"comment":{"id":1}}`, 9},
		{"issue_comment on an issue", `{"issue":{"number":9},"comment":{"id":1}}`, 0},
		{"push", `{"ref":"refs/heads/main"}`, 0},
	} {
		p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".json")
		os.WriteFile(p, []byte(tc.payload), 0o644)
		got, err := eventNumber(p)
		if err != nil || got != tc.want {
			t.Errorf("%s: %d, %v; want %d", tc.name, got, err, tc.want)
		}
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("not json"), 0o644)
	if _, err := eventNumber(bad); !repo.IsUserError(err) {
		t.Errorf("bad payload: %v", err)
	}
}

func TestOpenDefaultsTheAPIURL(t *testing.T) {
	ev := filepath.Join(t.TempDir(), "e.json")
	os.WriteFile(ev, []byte(`{"pull_request":{"number":3}}`), 0o644)
	pr, err := Open(Env{Token: "t", Repository: "o/r", EventPath: ev})
	if err != nil {
		t.Fatal(err)
	}
	if pr.Owner != "o" || pr.Repo != "r" || pr.Number != 3 || pr.client.BaseURL() != "https://api.github.com/" {
		t.Errorf("pr = %+v, base %s", pr, pr.client.BaseURL())
	}
	pr, err = Open(Env{Token: "t", Repository: "o/r", EventPath: ev, APIURL: "https://ghe.example/api/v3"})
	if err != nil || pr.client.BaseURL() != "https://ghe.example/api/v3/" {
		t.Errorf("GHES base: %v %v", pr, err)
	}
}

func TestAppendStepSummary(t *testing.T) {
	p := filepath.Join(t.TempDir(), "summary.md")
	for _, b := range []string{"one\n\n\n", "two"} {
		if err := AppendStepSummary(p, b); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := os.ReadFile(p); string(got) != "one\n\ntwo\n\n" {
		t.Errorf("summary = %q", got)
	}
}

func TestGraphQLURL(t *testing.T) {
	for _, tc := range []struct {
		env  Env
		want string
	}{
		{Env{}, "https://api.github.com/graphql"},
		{Env{APIURL: "https://ghe.example/api/v3"}, "https://ghe.example/api/graphql"},
		{Env{APIURL: "https://ghe.example/api/v3", GraphQLURL: "https://ghe.example/api/graphql2"}, "https://ghe.example/api/graphql2"},
	} {
		if got := graphQLURL(tc.env); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.env, got, tc.want)
		}
	}
}

func TestSameLogin(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"github-actions[bot]", "github-actions", true},
		{"Selfevals-Bot", "selfevals-bot", true},
		{"mallory", "github-actions[bot]", false},
		{"", "", false},
	} {
		if got := sameLogin(tc.a, tc.b); got != tc.want {
			t.Errorf("sameLogin(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}
