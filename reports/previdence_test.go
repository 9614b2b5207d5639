package reports

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/selfevals/selfevals/repo"
)

// hostile are answers an agent (or whoever wrote the pull request) can
// choose to break the comment.
var hostile = []string{
	"```\n</details>\n# owned",
	"~~~\n<details><summary>fake</summary>",
	"<img src=x onerror=alert(1)> <script>alert(1)</script>",
	"@octocat @org/team please look; mail me at a@b.c",
	"![pixel](https://tracker.example/p.png) [click](javascript:alert(1))",
	"bell\a nul\x00 esc\x1b[31m red \u202Eevil\u202C zero\uFEFFwidth",
	"| a | b |\n|---|---|",
	strings.Repeat("long line ", 200),
	strings.Repeat("line\n", 50),
}

var (
	rawTag      = regexp.MustCompile(`<[^p/]|</[^p]`)
	liveMention = regexp.MustCompile(`(^|[^A-Za-z0-9_.@-])@[A-Za-z0-9]`) // as GitHub reads one: an @ starting a word
)

// An excerpt is text whatever the answer: no tag but its own <pre>, no
// backtick or tilde (a fence to GitHub and to FitComment), no mention, no
// control character, and bounded.
func TestExcerptBlockIsInert(t *testing.T) {
	for _, s := range hostile {
		checkExcerpt(t, s)
	}
}

func FuzzExcerptBlock(f *testing.F) {
	for _, s := range hostile {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkExcerpt(t, s) })
}

func checkExcerpt(t *testing.T, s string) {
	t.Helper()
	got := excerptBlock(s)
	inner, okStart := strings.CutPrefix(got, "<pre>")
	inner, okEnd := strings.CutSuffix(inner, "</pre>")
	if !okStart || !okEnd {
		t.Fatalf("%q: not one <pre> block: %q", s, got)
	}
	if strings.ContainsAny(inner, "<>`~") || liveMention.MatchString(inner) {
		t.Errorf("%q: live markup in %q", s, inner)
	}
	for _, r := range inner {
		if r != '\n' && r != '\t' && (r < 0x20 || r == 0x7f || r >= 0x202A && r <= 0x202E) {
			t.Errorf("%q: control character %U in %q", s, r, inner)
		}
	}
	if n := len([]rune(inner)); n > 8*maxExcerpt {
		t.Errorf("%q: %d characters", s, n)
	}
	if lines := strings.Count(inner, "\n"); lines > maxExcerptLines+1 {
		t.Errorf("%q: %d lines", s, lines)
	}
	// Inside a section, it leaves FitComment's reading of the sections
	// alone.
	body := "head\n\n<details><summary>one</summary>\n\n" + got + "\n\n</details>\n\n<details><summary>two</summary>\n\nx\n</details>\n"
	if _, sections := blocks(body); len(sections) != 2 || sections[1].title != "two" {
		t.Errorf("%q: the excerpt changes the sections: %+v", s, sections)
	}
}

func TestSafeText(t *testing.T) {
	for _, s := range hostile {
		got := safeText(s, 240)
		if rawTag.MatchString(got) || strings.ContainsAny(got, "\n\a\x00") || liveMention.MatchString(got) {
			t.Errorf("%q → %q", s, got)
		}
		for _, c := range "`*_[]|!" {
			if i := strings.IndexRune(got, c); i >= 0 && (i == 0 || got[i-1] != '\\') {
				t.Errorf("%q → %q: unescaped %c", s, got, c)
			}
		}
	}
	if got := safeText("a_b * [c]", 80); got != `a\_b \* \[c\]` {
		t.Errorf("safeText = %q", got)
	}
}

// Shell words read back as written, through a real shell; ${NAME}
// expands from the shell's environment and nothing else does.
func TestShellQuoting(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	for _, s := range []string{"plain", "it's", `{"a":"b c"}`, "$HOME `id` $(id) \\ \"q\"", "line\nbreak", "", "-n"} {
		cmd := exec.Command("sh", "-c", "printf '%s' "+shellQuote(s))
		out, err := cmd.Output()
		if err != nil || string(out) != s {
			t.Errorf("shellQuote(%q) = %s read back as %q, %v", s, shellQuote(s), out, err)
		}
	}
	word := shellTemplate("Bearer ${TOKEN} costs $5 `id` \"q\" \\")
	cmd := exec.Command("sh", "-c", "printf '%s' "+word)
	cmd.Env = []string{"TOKEN=s3cret", "PATH=" + os.Getenv("PATH")}
	out, err := cmd.Output()
	if want := "Bearer s3cret costs $5 `id` \"q\" \\"; err != nil || string(out) != want {
		t.Errorf("shellTemplate = %s read back as %q, %v; want %q", word, out, err, want)
	}
	if strings.Contains(word, "s3cret") {
		t.Error("the secret's value is in the word")
	}
}

// The rerun line of an HTTP agent posts the same request, with the
// spec's headers, ${NAME} taken from the environment.
func TestHTTPAgentRerun(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("no curl")
	}
	var gotAuth, gotType, gotBody string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotAuth, gotType, gotBody = r.Header.Get("Authorization"), r.Header.Get("Content-Type"), string(b)
		fmt.Fprint(w, `{"output":"pong"}`)
	}))
	defer srv.Close()
	ls := &repo.LoadedSpec{}
	ls.Spec.Agent.HTTP = &repo.HTTPAgent{URL: srv.URL + "/agent", Headers: map[string]string{"Authorization": "Bearer ${AGENT_TOKEN}"}}
	body := `{"case_id":"c1","input":{"text":"it's \"ping\""}}`
	line, note := agentRerun(ls, body)
	if line == "" || !strings.Contains(note, "POST") {
		t.Fatalf("line %q, note %q", line, note)
	}
	cmd := exec.Command("sh", "-c", line)
	cmd.Env = []string{"AGENT_TOKEN=t0k", "PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	if err != nil || string(out) != `{"output":"pong"}` {
		t.Fatalf("%s: %v %s", line, err, out)
	}
	if gotAuth != "Bearer t0k" || gotType != "application/json" || gotBody != body {
		t.Errorf("the agent got %q %q %q", gotAuth, gotType, gotBody)
	}
}

func TestCommandAgentRerunInWorkdir(t *testing.T) {
	a := repo.Agent{Command: []string{"agents/bot.py", "--mode", "fast lane"}, Workdir: "services/bot", Env: map[string]string{"KEY": "${API_KEY}", "MODE": "x y"}}
	got := commandRerun(a, `{"case_id":"c"}`)
	want := `printf '%s\n' '{"case_id":"c"}' | (cd services/bot && KEY="${API_KEY}" MODE='x y' ../../agents/bot.py --mode 'fast lane')`
	if got != want {
		t.Errorf("commandRerun =\n%s\nwant\n%s", got, want)
	}
}

func verdict(label repo.Label, rate, score float64) *repo.CaseVerdict {
	return &repo.CaseVerdict{Label: label, PassRate: rate, Score: score, Repetitions: 4}
}

// Regressions come biggest drop first: pass rate, then score, then ID.
func TestSortedRegressions(t *testing.T) {
	cs := []CaseChange{
		{ID: "small", A: verdict(repo.Pass, 1, 1), B: verdict(repo.Partial, 0.75, 0.9)},
		{ID: "big", A: verdict(repo.Pass, 1, 1), B: verdict(repo.Fail, 0, 0)},
		{ID: "b-mid", A: verdict(repo.Pass, 1, 1), B: verdict(repo.Fail, 0.5, 0.2)},
		{ID: "a-mid", A: verdict(repo.Pass, 1, 1), B: verdict(repo.Fail, 0.5, 0.2)},
		{ID: "mid-score", A: verdict(repo.Pass, 1, 1), B: verdict(repo.Fail, 0.5, 0.1)},
	}
	var ids []string
	for _, c := range sortedRegressions(cs) {
		ids = append(ids, c.ID)
	}
	if got := strings.Join(ids, " "); got != "big mid-score a-mid b-mid small" {
		t.Errorf("order = %s", got)
	}
}

// Many regressions with long answers: ten are shown with their answer,
// the rest are counted, and the comment still fits GitHub's limit.
func TestRegressedSectionIsCapped(t *testing.T) {
	e := &ExperimentDiff{Slug: "big", Status: StatusChanged, Regressed: true}
	x := &ExperimentEvidence{Cases: map[string]*CaseEvidence{}}
	for i := range 300 {
		id := fmt.Sprintf("case-%03d", i)
		e.Cases.Regressed = append(e.Cases.Regressed, CaseChange{ID: id, A: verdict(repo.Pass, 1, 1), B: verdict(repo.Fail, float64(i%4)/4, 0)})
		x.Cases[id] = &CaseEvidence{Answer: strings.Repeat("blah ", 2000), Grader: "rules", Reason: strings.Repeat("why ", 100),
			Rerun: "printf '%s\\n' '" + strings.Repeat("x", maxRerunLine-30) + "' | ./agent", RerunNote: "note"}
	}
	d := &DiffReport{A: Revision{Name: "main", Commit: strings.Repeat("a", 40)}, B: Revision{Name: "working tree"}, Confidence: 0.95, Experiments: []*ExperimentDiff{e}}
	md := DiffMarkdown(d, DiffMarkdownOptions{Evidence: &PREvidence{Experiments: map[string]*ExperimentEvidence{"big": x}}})
	if n := strings.Count(md, "The agent answered"); n != maxDetailed {
		t.Errorf("%d answers shown", n)
	}
	if !strings.Contains(md, "… the answers of 290 more cases are in the run record.") {
		t.Error("the cases left out are not counted")
	}
	// Biggest drop first: the cases whose pass rate fell to 0.
	if i, j := strings.Index(md, "**`case-000`**"), strings.Index(md, "**`case-004`**"); i < 0 || j < i {
		t.Error("the first answers are not the biggest drops")
	}
	fit := FitComment(md, 30)
	if !strings.Contains(fit, "❌ Regressed in <code>big</code> (300)</summary>") {
		t.Error("the regressions did not fit")
	}
	if utf16Len(fit) > CommentLimit-30 || strings.Count(fit, "<details>") != strings.Count(fit, "</details>") || strings.Count(fit, "<pre>") != strings.Count(fit, "</pre>") {
		t.Errorf("FitComment: %d characters", utf16Len(fit))
	}
}

func TestJobURL(t *testing.T) {
	env := map[string]string{"GITHUB_SERVER_URL": "https://github.example/", "GITHUB_REPOSITORY": "o/r", "GITHUB_RUN_ID": "9"}
	if got := jobURL(func(k string) string { return env[k] }); got != "https://github.example/o/r/actions/runs/9" {
		t.Errorf("jobURL = %s", got)
	}
	env["GITHUB_RUN_ATTEMPT"] = "2"
	if got := jobURL(func(k string) string { return env[k] }); got != "https://github.example/o/r/actions/runs/9/attempts/2" {
		t.Errorf("jobURL = %s", got)
	}
	delete(env, "GITHUB_RUN_ID")
	if got := jobURL(func(k string) string { return env[k] }); got != "" {
		t.Errorf("jobURL without a run = %s", got)
	}
}

// Each side says where its results came from: the run record's commit,
// state, version and start for the working tree; the commit and its time
// for a committed result no record is at hand for.
func TestProvenanceLines(t *testing.T) {
	committedAt := time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC)
	treeA := fstest.MapFS{"evals/results/x/summary.json": {Data: []byte("{}"), ModTime: committedAt}}
	revA := Revision{Name: "main", Commit: strings.Repeat("a", 40), Tree: treeA}
	pa := provenance(revA, "evals/results/x/summary.json", &repo.ResultsSummary{AgentFingerprint: "agt_a"}, nil)
	man := &repo.RunManifest{RunID: "run_1", GitCommit: strings.Repeat("b", 40), GitDirty: true, ToolVersion: "v1.2.3", StartedAt: "2026-03-02T08:00:00.123Z"}
	pb := provenance(Revision{Name: "working tree"}, "", &repo.ResultsSummary{AgentFingerprint: "agt_b"}, &matchedRun{man: man})
	d := &DiffReport{A: revA, B: Revision{Name: "working tree"}, Experiments: []*ExperimentDiff{{Slug: "x"}}}
	opts := DiffMarkdownOptions{CommitURL: "https://github.example/o/r/commit/", Evidence: &PREvidence{Experiments: map[string]*ExperimentEvidence{"x": {A: pa, B: pb}}}}
	head := evidenceHead(d, opts)
	want := "**A** · <a href=\"https://github.example/o/r/commit/" + strings.Repeat("a", 40) + "\"><code>aaaaaaa</code></a> · agent `agt_a` · selfevals version not recorded · committed 2026-03-01 12:30 UTC\\\n" +
		"**B** · working tree of <a href=\"https://github.example/o/r/commit/" + strings.Repeat("b", 40) + "\"><code>bbbbbbb</code></a> with uncommitted changes · agent `agt_b` · selfevals `v1.2.3` · run 2026-03-02 08:00 UTC\n\n"
	if head != want {
		t.Errorf("provenance:\n%s\nwant\n%s", head, want)
	}
}
