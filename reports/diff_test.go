package reports

import (
	"fmt"
	"io/fs"
	"iter"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/gitstore"
	"github.com/selfevals/selfevals/repo/paired"
)

// mapTree is a revision held in memory, by path.
type mapTree map[string]string

func (m mapTree) Open(name string) (fs.File, error) {
	fsys := fstest.MapFS{}
	for p, s := range m {
		fsys[p] = &fstest.MapFile{Data: []byte(s)}
	}
	return fsys.Open(name)
}

func testCase(t testing.TB, name, text string) (line, id string) {
	t.Helper()
	line = fmt.Sprintf(`{"name":%q,"input":{"text":%q}}`, name, text)
	c, probs := repo.DecodeCaseJSON("d.jsonl", 1, []byte(line))
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	return line, c.ID
}

// datasetAtRev reads, as diff reads one side, the dataset of an experiment
// whose cases are jsonl at file.
func datasetAtRev(t *testing.T, rev, file, jsonl string) *datasetAt {
	t.Helper()
	tree := mapTree{
		"evals/experiments/x.yaml": "experiment:\n  name: x\n  goal: g\n  target: {primary: {name: pass@1, operator: \">=\", value: 0.5}}\n" +
			"dataset: {cases_path: ../../" + file + "}\nagent: {builtin: echo}\n",
		file: jsonl,
	}
	s, err := loadSide(Revision{Name: rev, Tree: tree}, "evals", "x", repo.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	if s.dataset == nil {
		t.Fatalf("no dataset at %s: %v", rev, s.warnings)
	}
	return s.dataset
}

func TestDatasetDiffByContentHash(t *testing.T) {
	la, ida := testCase(t, "a", "one")
	lb, idb := testCase(t, "b", "two")
	lb2, idb2 := testCase(t, "b", "two, edited")
	lc, idc := testCase(t, "c", "three")
	// The same case with its keys reordered and spaced: the same ID, so
	// not a change (what `selfevals fmt` does to a hand-written file).
	la2 := `{ "input": {"text": "one"}, "name": "a" }`
	var warnings []string
	d := diffDataset(datasetAtRev(t, "A", "d.jsonl", la+"\n"+lb+"\n"),
		datasetAtRev(t, "B", "d.jsonl", "// comment\n"+la2+"\n\n"+lb2+"\n"+lc+"\n{broken\n"), &warnings)
	want := &DatasetDiff{PathA: "d.jsonl", PathB: "d.jsonl", CasesA: 2, CasesB: 4,
		Added: []CaseRef{{ID: idc, Name: "c"}}, Removed: []CaseRef{}, Edited: []CaseEdited{{Name: "b", From: idb, To: idb2}}}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("dataset diff (-want +got):\n%s", diff)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "d.jsonl:6") || !strings.Contains(warnings[0], "(at B)") {
		t.Errorf("warnings = %v", warnings)
	}
	_ = ida

	// Two removed and two added cases with the same name are not guessed
	// into edits.
	l1, id1 := testCase(t, "dup", "x1")
	l2, id2 := testCase(t, "dup", "x2")
	l3, id3 := testCase(t, "dup", "x3")
	l4, id4 := testCase(t, "dup", "x4")
	d = diffDataset(datasetAtRev(t, "A", "d", l1+"\n"+l2), datasetAtRev(t, "B", "d", l3+"\n"+l4), &warnings)
	if len(d.Edited) != 0 || len(d.Added) != 2 || len(d.Removed) != 2 || d.Added[0].ID != min(id3, id4) || d.Removed[1].ID != max(id1, id2) {
		t.Errorf("ambiguous names: %+v", d)
	}
}

func TestInlineDatasetAndSpecDiff(t *testing.T) {
	spec := func(temp, extraCase string) string {
		return `experiment:
  name: inline
  goal: g
  target: {primary: {name: pass@1, operator: ">=", value: 0.5}, guardrails: [{name: cost_usd_per_case, operator: "<=", value: 0.01}]}
  parameters: {model_params: {temperature: ` + temp + `}}
  run: {timeout: 30s}
dataset:
  cases_inline:
    - {name: first, input: {text: hi}}
` + extraCase + `agent: {builtin: echo}
graders:
  - {type: deterministic, name: rules}
`
	}
	a := mapTree{"evals/experiments/x.yaml": spec("0.7", "")}
	b := mapTree{"evals/experiments/x.yaml": strings.Replace(strings.Replace(spec("0.2", "    - {name: second, input: {text: yo}}\n"), "30s", "45s", 1), "name: rules", "name: rules, case_sensitive: true", 1)}
	d, err := Diff(Revision{Name: "a", Tree: a}, Revision{Name: "b", Tree: b}, DiffOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e := d.Experiments[0]
	if e.Status != StatusChanged || e.Dataset == nil || len(e.Dataset.Added) != 1 || e.Dataset.Added[0].Name != "second" || e.Dataset.CasesA != 1 || e.Dataset.CasesB != 2 {
		t.Errorf("inline dataset diff = %+v (status %s)", e.Dataset, e.Status)
	}
	want := []FieldChange{
		{Path: "experiment.parameters.model_params.temperature", Kind: "changed", A: "0.7", B: "0.2"},
		{Path: "experiment.run.timeout", Kind: "changed", A: "30s", B: "45s"},
		{Path: "graders[0].case_sensitive", Kind: "changed", A: "false", B: "true"},
	}
	if diff := cmp.Diff(want, e.Spec); diff != "" {
		t.Errorf("spec changes (-want +got):\n%s", diff)
	}
	// A parameter added and a guardrail removed.
	c := mapTree{"evals/experiments/x.yaml": strings.Replace(strings.Replace(spec("0.7", ""), "{temperature: 0.7}", "{temperature: 0.7, top_p: 0.9}", 1),
		", guardrails: [{name: cost_usd_per_case, operator: \"<=\", value: 0.01}]", "", 1)}
	d, err = Diff(Revision{Name: "a", Tree: a}, Revision{Name: "c", Tree: c}, DiffOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want = []FieldChange{
		{Path: "experiment.target.guardrails", Kind: "removed", A: `[{"name":"cost_usd_per_case","operator":"<=","value":0.01}]`},
		{Path: "experiment.parameters.model_params.top_p", Kind: "added", B: "0.9"},
	}
	if diff := cmp.Diff(want, d.Experiments[0].Spec); diff != "" {
		t.Errorf("spec changes (-want +got):\n%s", diff)
	}
}

func TestDiffExperimentsAddedAndRemoved(t *testing.T) {
	summary := `{"schema_version":"1","experiment":{"slug":"s","name":"s"},"target":{"name":"pass@1","operator":">=","value":0.5},"metrics":{"pass@1":{"value":0.5,"ci":[0.1,0.9],"n":2}}}`
	a := mapTree{"evals/results/old/summary.json": summary, "evals/results/old/cases.jsonl": `{"case_id":"case_1","label":"pass"}` + "\n"}
	b := mapTree{"evals/results/new/summary.json": summary, "evals/results/new/cases.jsonl": `{"case_id":"case_1","label":"fail"}` + "\n" + "not json\n"}
	d, err := Diff(Revision{Name: "a", Tree: a}, Revision{Name: "b", Tree: b}, DiffOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Experiments) != 2 || d.Experiments[0].Slug != "new" || d.Experiments[0].Status != StatusAdded || d.Experiments[1].Status != StatusRemoved {
		t.Fatalf("experiments = %+v", d.Experiments)
	}
	if d.Regressed() {
		t.Error("a new and a removed experiment are not regressions")
	}
	if n := d.Experiments[0]; len(n.Cases.New) != 1 || len(n.Warnings) != 1 || !strings.Contains(n.Warnings[0], "line 2 is not a case verdict at b") {
		t.Errorf("new experiment = %+v", n)
	}
	md := DiffMarkdown(d, DiffMarkdownOptions{})
	if !strings.Contains(md, "🆕 new experiment") || !strings.Contains(md, "🗑️ removed") || !strings.HasPrefix(md, "### ✅ no regressions; 1 new case; 1 removed case") {
		t.Errorf("markdown:\n%s", md)
	}
}

// A significantly worse primary metric regresses the experiment even when
// the target says lower is better.
func TestDiffSignificanceFollowsTheTarget(t *testing.T) {
	tree := func(op string, passing int) mapTree {
		var cases strings.Builder
		for i := range 40 {
			label := "fail"
			if i < passing {
				label = "pass"
			}
			fmt.Fprintf(&cases, `{"case_id":"case_%02d","label":%q,"score":%d}`+"\n", i, label, map[bool]int{true: 1}[label == "pass"])
		}
		rate := float64(passing) / 40
		return mapTree{
			"evals/results/x/summary.json": fmt.Sprintf(`{"target":{"name":"fail_rate","operator":%q,"value":0.2},"metrics":{"fail_rate":{"value":%v,"ci":[0,1],"n":40},"pass@1":{"value":%v,"ci":[0,1],"n":40}}}`, op, 1-rate, rate),
			"evals/results/x/cases.jsonl":  cases.String(),
		}
	}
	// 30 → 10 passing: fail_rate 0.25 → 0.75.
	d, err := Diff(Revision{Name: "a", Tree: tree("<=", 30)}, Revision{Name: "b", Tree: tree("<=", 10)}, DiffOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e := d.Experiments[0]
	p := e.Primary()
	if p == nil || p.Name != "fail_rate" || p.Verdict != VerdictWorse || *p.P >= 0.001 || (*p.CI)[0] <= 0 {
		t.Errorf("fail_rate row = %+v", p)
	}
	if !e.Regressed || len(e.Cases.Regressed) != 20 {
		t.Errorf("regressed = %v with %d cases", e.Regressed, len(e.Cases.Regressed))
	}
	if !strings.HasPrefix(DiffHeadline(d), "❌ 20 regressions in x (fail_rate 0.25 → 0.75, p=<0.001)") {
		t.Errorf("headline = %q", DiffHeadline(d))
	}
	// The other way round it is significantly better.
	d, _ = Diff(Revision{Name: "a", Tree: tree("<=", 10)}, Revision{Name: "b", Tree: tree("<=", 30)}, DiffOptions{})
	if p := d.Experiments[0].Primary(); p.Verdict != VerdictBetter || d.Regressed() {
		t.Errorf("improvement: %+v", p)
	}
	if !strings.HasPrefix(DiffHeadline(d), "✅ no regressions; primary metric significantly better in 1 experiment; 20 cases fixed") {
		t.Errorf("headline = %q", DiffHeadline(d))
	}
}

func TestTaxonomyAndCardDiff(t *testing.T) {
	a := mapTree{
		"evals/taxonomy.yaml":      "modes:\n  - {slug: a, title: A, definition: d}\n  - {slug: b, title: B, definition: d, status: official}\n",
		"evals/graders/judge.yaml": "name: judge\nthresholds: {min_precision: 0.9}\n",
		"evals/graders/gone.yaml":  "name: gone\n",
	}
	b := mapTree{
		"evals/taxonomy.yaml":      "modes:\n  - {slug: a, title: A2, definition: d, status: official}\n  - {slug: c, title: C, definition: d}\n",
		"evals/graders/judge.yaml": "name: judge\nthresholds: {min_precision: 0.8}\n",
		"evals/graders/new.yml":    "name: new\n",
	}
	d, err := Diff(Revision{Name: "a", Tree: a}, Revision{Name: "b", Tree: b}, DiffOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantTax := &TaxonomyDiff{Added: []ModeRef{{"c", "C", "candidate"}}, Removed: []ModeRef{{"b", "B", "official"}},
		StatusChanged: []ModeStatus{{"a", "candidate", "official"}}, Edited: []string{"a"}}
	if diff := cmp.Diff(wantTax, d.Taxonomy); diff != "" {
		t.Errorf("taxonomy (-want +got):\n%s", diff)
	}
	wantCards := []CardDiff{
		{Path: "evals/graders/gone.yaml", Status: StatusRemoved},
		{Path: "evals/graders/judge.yaml", Status: StatusChanged, Changes: []FieldChange{{Path: "thresholds.min_precision", Kind: "changed", A: "0.9", B: "0.8"}}},
		{Path: "evals/graders/new.yml", Status: StatusAdded},
	}
	if diff := cmp.Diff(wantCards, d.GraderCards); diff != "" {
		t.Errorf("cards (-want +got):\n%s", diff)
	}
	md := DiffMarkdown(d, DiffMarkdownOptions{})
	for _, want := range []string{"⚖️ Grader card changes (3)", "`thresholds.min_precision` | `0.9` | `0.8`", "🔁 `a`: candidate → official", "🗑️ `b` — B (was official)"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

// gitDir is a directory for a repository made with the git CLI, with a
// runner of git in it and a writer of files into it.
func gitDir(tb testing.TB) (dir string, git func(args ...string), write func(files map[string]string)) {
	tb.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		tb.Skip("git not installed")
	}
	dir = tb.TempDir()
	git = func(args ...string) {
		tb.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL="+os.DevNull, "GIT_CONFIG_NOSYSTEM=1",
			"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			tb.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	write = func(files map[string]string) {
		tb.Helper()
		for p, c := range files {
			full := filepath.Join(dir, filepath.FromSlash(p))
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				tb.Fatal(err)
			}
			if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return dir, git, write
}

// diffCommits diffs two revisions of g, read from git objects.
func diffCommits(tb testing.TB, g *gitstore.Git, revA, revB string, opts DiffOptions) *DiffReport {
	tb.Helper()
	var sides [2]Revision
	for i, rev := range []string{revA, revB} {
		t, err := g.TreeAt(rev)
		if err != nil {
			tb.Fatal(err)
		}
		sides[i] = Revision{Name: rev, Commit: t.Commit(), Tree: t}
	}
	d, err := Diff(sides[0], sides[1], opts)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// What the loaders refuse at a revision is a warning in their words, the
// file named with the revision; the broken file counts as absent there.
func TestDiffWarningsComeFromTheLoaders(t *testing.T) {
	dir, git, write := gitDir(t)
	la, _ := testCase(t, "a", "one")
	lb, _ := testCase(t, "b", "two")
	spec := "experiment:\n  name: x\n  goal: g\n  target: {primary: {name: pass@1, operator: \">=\", value: 0.5}}\n" +
		"dataset: {cases_path: ../datasets/d.jsonl}\nagent: {builtin: echo}\n"
	write(map[string]string{
		"evals/experiments/x.yaml":     spec,
		"evals/experiments/y.yaml":     spec,
		"evals/datasets/d.jsonl":       la + "\n",
		"evals/results/x/cases.jsonl":  `{"case_id":"case_1","label":"pass"}` + "\n",
		"evals/results/x/summary.json": `{"schema_version":"1"}`,
		"evals/taxonomy.yaml":          "modes: []\n",
	})
	git("init", "-q", "-b", "main")
	git("add", "-A")
	git("commit", "-q", "-m", "good")
	write(map[string]string{
		"evals/experiments/y.yaml":     strings.Replace(spec, "goal: g", "goal: g\n  nmae: typo", 1),
		"evals/datasets/d.jsonl":       la + "\n" + lb + "\n" + `{"input":{"text":"c"},"expectd":{}}` + "\n",
		"evals/results/x/cases.jsonl":  `{"case_id":"case_1","label":"pass"}` + "\n{\n",
		"evals/results/x/summary.json": "{\n  \"cases\": \"many\"\n}\n",
		"evals/taxonomy.yaml":          "modes:\n  - {slug: BAD, title: t, definition: d}\n",
	})
	git("commit", "-q", "-am", "broken")
	g, err := gitstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	d := diffCommits(t, g, "main~1", "main", DiffOptions{})
	var all []string
	all = append(all, d.Warnings...)
	for _, e := range d.Experiments {
		all = append(all, e.Warnings...)
	}
	for _, want := range []string{
		"main:evals/datasets/d.jsonl:3:23: expectd: unknown key",
		"main:evals/results/x/cases.jsonl:2: line 2 is not a case verdict",
		"main:evals/results/x/summary.json:2:",
		"main:evals/experiments/y.yaml:4:3: experiment.nmae: unknown key",
		"main:evals/taxonomy.yaml:2:",
	} {
		if !slices.ContainsFunc(all, func(w string) bool { return strings.HasPrefix(w, want) }) {
			t.Errorf("no warning %q in:\n%s", want, strings.Join(all, "\n"))
		}
	}
	for _, w := range all {
		if strings.HasSuffix(w, " at main") {
			t.Errorf("the revision is said twice: %q", w)
		}
	}
	x, y := d.Experiments[0], d.Experiments[1]
	if y.Status != StatusRemoved || x.Dataset == nil || len(x.Dataset.Added) != 1 || x.Dataset.CasesB != 3 {
		t.Errorf("x: %+v; y: %s", x.Dataset, y.Status)
	}

	// The working tree does not name its revision: the warning says it.
	main, err := g.TreeAt("main")
	if err != nil {
		t.Fatal(err)
	}
	d, err = Diff(Revision{Name: "main", Tree: main}, Revision{Name: "working tree", Tree: os.DirFS(dir)}, DiffOptions{Experiment: "y"})
	if err != nil {
		t.Fatal(err)
	}
	if w := d.Experiments[0].Warnings; len(w) != 2 || !strings.HasPrefix(w[1], "evals/experiments/y.yaml:4:3:") || !strings.HasSuffix(w[1], " at working tree") {
		t.Errorf("working tree warnings = %q", w)
	}
}

func TestFitComment(t *testing.T) {
	measure := func(s string) int { return len([]rune(s)) }
	section := func(title string, rows int) string {
		var b strings.Builder
		fmt.Fprintf(&b, "<details><summary>%s</summary>\n\n| a | b |\n|---|---|\n", title)
		for i := range rows {
			fmt.Fprintf(&b, "| %d | row |\n", i)
		}
		b.WriteString("\n<details><summary>nested</summary>\n\ninner\n</details>\n</details>\n\n")
		return b.String()
	}
	head := "### verdict\n\n| t | u |\n|---|---|\n| 1 | 2 |\n\nfooter " + strings.Repeat("x", 300) + "\n\n"
	fence := "```\n<details>\nnot a section\n```\n\n"
	body := head + section("One", 10) + section("Two <code>x</code>", 10) + fence + section("Three", 10)
	if got := fit(body, len(body), 999, measure, "character"); got != body {
		t.Error("a body within the limit changed")
	}
	got := fit(body, len(head)+len(section("One", 10))+250, 999, measure, "character")
	if !strings.Contains(got, "<summary>One</summary>") || strings.Contains(got, "<summary>Two") {
		t.Errorf("kept the wrong sections:\n%s", got)
	}
	if !strings.Contains(got, "Left out: *Two x*, *Three*.") || !strings.Contains(got, "999-character limit") {
		t.Errorf("note:\n%s", got)
	}
	if strings.Count(got, "<details>") != strings.Count(got, "</details>") {
		t.Errorf("unbalanced sections:\n%s", got)
	}
	// Too long even without sections: whole paragraphs go, never half a
	// table.
	got = fit(body, 400, 999, measure, "character")
	if !strings.HasPrefix(got, "### verdict\n\n| t | u |\n|---|---|\n| 1 | 2 |\n") || strings.Contains(got, "footer") || measure(got) > 400 {
		t.Errorf("paragraph cut (%d):\n%s", measure(got), got)
	}
	if !strings.Contains(got, "1 paragraph of the summary") {
		t.Errorf("note:\n%s", got)
	}
	for limit := 1; limit < len(body); limit += 7 {
		out := strings.Replace(fit(body, limit, 999, measure, "character"), fence, "", 1)
		if strings.Count(out, "<details>") != strings.Count(out, "</details>") {
			t.Fatalf("limit %d: unbalanced sections", limit)
		}
		if strings.Count(out, "| 1 | 2 |") == 1 && !strings.Contains(out, "| t | u |") {
			t.Fatalf("limit %d: half a table", limit)
		}
	}
	// UTF-16: an emoji counts twice.
	if utf16Len("a🙂é") != 4 {
		t.Errorf("utf16Len = %d", utf16Len("a🙂é"))
	}
}

// BenchmarkDiff10k diffs two revisions of a 10,000-case experiment read
// from git objects: 100 regressions, 100 fixes, 50 edited, 50 added and 20
// removed cases, then renders the PR markdown.
func BenchmarkDiff10k(b *testing.B) {
	dir, run, write := gitDir(b)
	const n = 10000
	revision := func(feature bool) map[string]string {
		var ds strings.Builder
		var verdicts []repo.CaseVerdict
		for i := range n {
			text := fmt.Sprintf("question %d about the refund policy of order %d", i, i*7)
			switch {
			case feature && i >= n-20: // removed
				continue
			case feature && i < 50: // edited
				text += " (reworded)"
			}
			line, id := testCase(b, fmt.Sprintf("case %05d", i), text)
			ds.WriteString(line + "\n")
			pass := (i%10 != 0 || i >= 1000 && i < 1100) && (i < 2000 || i >= 2100)
			switch {
			case feature && i >= 1000 && i < 1100:
				pass = false
			case feature && i >= 2000 && i < 2100:
				pass = true
			}
			v := repo.CaseVerdict{CaseID: id, Name: fmt.Sprintf("case %05d", i), Label: repo.Pass, Score: 1, PassRate: 1, Repetitions: 1}
			if !pass {
				v = repo.CaseVerdict{CaseID: id, Name: v.Name, Label: repo.Fail, Repetitions: 1, FailureModes: []string{"missing_required_substring"},
					Reason: `missing_required_substring: "refund" not found in the reply`}
			}
			verdicts = append(verdicts, v)
		}
		if feature {
			for i := range 50 {
				line, id := testCase(b, fmt.Sprintf("new case %d", i), fmt.Sprintf("a new question %d", i))
				ds.WriteString(line + "\n")
				verdicts = append(verdicts, repo.CaseVerdict{CaseID: id, Name: fmt.Sprintf("new case %d", i), Label: repo.Pass, Score: 1, PassRate: 1, Repetitions: 1})
			}
		}
		passed := 0
		for _, v := range verdicts {
			if v.Label == repo.Pass {
				passed++
			}
		}
		rate := float64(passed) / float64(len(verdicts))
		s := &repo.ResultsSummary{SchemaVersion: "1", Experiment: repo.SummaryExperiment{Slug: "big", Name: "big"}, Cases: len(verdicts), Repetitions: 1,
			Target:  repo.MetricTarget{Name: "pass@1", Operator: ">=", Value: 0.8},
			Metrics: map[string]repo.SummaryMetric{"pass@1": {Value: rate, CI: [2]float64{rate - 0.01, rate + 0.01}, N: len(verdicts)}, "mean_score": {Value: rate, N: len(verdicts)}}}
		sum, cases, err := repo.EncodeResults(s, verdicts)
		if err != nil {
			b.Fatal(err)
		}
		temp := "0.7"
		if feature {
			temp = "0.3"
		}
		return map[string]string{
			"evals/experiments/big.yaml":     "experiment:\n  name: big\n  goal: g\n  target: {primary: {name: pass@1, operator: \">=\", value: 0.8}}\n  parameters: {model_params: {temperature: " + temp + "}}\ndataset: {cases_path: ../datasets/big.jsonl}\nagent: {builtin: echo}\n",
			"evals/datasets/big.jsonl":       ds.String(),
			"evals/results/big/summary.json": string(sum),
			"evals/results/big/cases.jsonl":  string(cases),
		}
	}
	run("init", "-q", "-b", "main")
	write(revision(false))
	run("add", "-A")
	run("commit", "-q", "-m", "main")
	write(revision(true))
	run("add", "-A")
	run("commit", "-q", "-m", "feature")
	g, err := gitstore.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		d := diffCommits(b, g, "HEAD~1", "HEAD", DiffOptions{})
		e := d.Experiments[0]
		if len(e.Cases.Regressed) != 100 || len(e.Cases.Fixed) != 100 || len(e.Cases.Edited) != 50 || len(e.Cases.New) != 50 || len(e.Cases.Removed) != 20 || e.Pairs != n-70 {
			b.Fatalf("classification: %d regressed, %d fixed, %d edited, %d new, %d removed, %d pairs",
				len(e.Cases.Regressed), len(e.Cases.Fixed), len(e.Cases.Edited), len(e.Cases.New), len(e.Cases.Removed), e.Pairs)
		}
		if md := FitComment(DiffMarkdown(d, DiffMarkdownOptions{}), 30); utf16Len(md) > CommentLimit {
			b.Fatal("comment too long")
		}
	}
}

// defCase is a dataset line and its verdict, with the ID and definition
// hash a run records.
type defCase struct {
	line  string
	label repo.Label
}

// defRevision writes the spec, dataset and committed result of one
// revision; it returns the case IDs by line.
func defRevision(t *testing.T, write func(map[string]string), graders, fingerprint string, cases []defCase) map[string]string {
	t.Helper()
	var lines strings.Builder
	var vs []repo.CaseVerdict
	ids := map[string]string{}
	passed := 0
	for i, c := range cases {
		dc, probs := repo.DecodeCaseJSON("d.jsonl", i+1, []byte(c.line))
		if len(probs) > 0 {
			t.Fatal(probs)
		}
		ids[c.line] = dc.ID
		lines.WriteString(c.line + "\n")
		v := repo.CaseVerdict{CaseID: dc.ID, Name: dc.Name, Label: c.label, Repetitions: 1, Definition: repo.CaseDefinition(dc)}
		if c.label == repo.Pass {
			v.Score, v.PassRate = 1, 1
			passed++
		}
		vs = append(vs, v)
	}
	rate := float64(passed) / float64(len(cases))
	_, jsonl, err := repo.EncodeResults(&repo.ResultsSummary{}, vs)
	if err != nil {
		t.Fatal(err)
	}
	write(map[string]string{
		"evals/experiments/x.yaml": "experiment:\n  name: x\n  goal: g\n  target: {primary: {name: pass@1, operator: \">=\", value: 0.5}}\n" +
			"dataset: {cases_path: ../datasets/d.jsonl}\nagent: {builtin: echo}\ngraders:\n  - " + graders + "\n",
		"evals/datasets/d.jsonl": lines.String(),
		"evals/results/x/summary.json": fmt.Sprintf(`{"agent_fingerprint":%q,"target":{"name":"pass@1","operator":">=","value":0.5},"metrics":{"pass@1":{"value":%v,"ci":[0,1],"n":%d}}}`,
			fingerprint, rate, len(cases)),
		"evals/results/x/cases.jsonl": string(jsonl),
	})
	return ids
}

// Results recorded with definition hashes: an edit under an explicit id is
// a definition change, never a fix or a regression; a renamed case is
// paired with itself; changed graders and agent fingerprint are caveats;
// the Δ is the paired one.
func TestDiffDefinitionChanges(t *testing.T) {
	dir, git, write := gitDir(t)
	const (
		refundA = `{"id":"refund-1","input":{"text":"refund"},"expected":{"must_include":["exactly this"]}}`
		refundB = `{"id":"refund-1","input":{"text":"refund"},"expected":{"must_include":["refund"]}}`
		okA     = `{"id":"ok-1","input":{"text":"ok"},"expected":{"must_include":["ok"]}}`
		okB     = `{"id":"ok-1","input":{"text":"ok"},"expected":{"must_include":["ok","more"]}}`
		oldName = `{"name":"old name","input":{"text":"renamed"}}`
		newName = `{"name":"new name","input":{"text":"renamed"}}`
		stays   = `{"name":"stays","input":{"text":"stays"}}`
		added   = `{"name":"added","input":{"text":"added"}}`
	)
	idsA := defRevision(t, write, "{type: deterministic, name: rules}", "fp_a", []defCase{
		{refundA, repo.Fail}, {okA, repo.Pass}, {oldName, repo.Pass}, {stays, repo.Fail}})
	git("init", "-q", "-b", "main")
	git("add", "-A")
	git("commit", "-q", "-m", "A")
	idsB := defRevision(t, write, "{type: deterministic, name: rules, case_sensitive: true}", "fp_b", []defCase{
		{refundB, repo.Pass}, {okB, repo.Fail}, {newName, repo.Fail}, {stays, repo.Pass}, {added, repo.Pass}})
	git("commit", "-q", "-am", "B")
	g, err := gitstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	d := diffCommits(t, g, "main~1", "main", DiffOptions{})
	e := d.Experiments[0]
	c := e.Cases
	ids := func(cs []CaseChange) []string {
		var out []string
		for _, ch := range cs {
			out = append(out, ch.PreviousID+">"+ch.ID)
		}
		return out
	}
	renamed := []string{idsA[oldName] + ">" + idsB[newName]}
	for _, check := range []struct {
		what      string
		got, want []string
	}{
		{"definition changed", ids(c.Edited), []string{">ok-1", ">refund-1"}},
		{"fixed", ids(c.Fixed), []string{">" + idsB[stays]}},
		{"regressed", ids(c.Regressed), renamed},
		{"renamed", ids(c.Renamed), renamed},
		{"new", ids(c.New), []string{">" + idsB[added]}},
		{"removed", ids(c.Removed), nil},
	} {
		if !slices.Equal(check.got, check.want) {
			t.Errorf("%s = %v, want %v", check.what, check.got, check.want)
		}
	}
	if e.Pairs != 2 {
		t.Errorf("pairs = %d, want 2 (the renamed case and stays)", e.Pairs)
	}
	ds := e.Dataset
	if ds == nil || len(ds.Edited) != 2 || ds.Edited[0].From != "ok-1" || ds.Edited[0].To != "ok-1" ||
		len(ds.Renamed) != 1 || ds.Renamed[0] != (CaseEdited{Name: "new name", From: idsA[oldName], To: idsB[newName]}) ||
		len(ds.Added) != 1 || len(ds.Removed) != 0 {
		t.Errorf("dataset diff = %+v", ds)
	}

	// The Δ is the paired comparison's, on the two shared cases (one
	// regressed, one fixed); the all-cases values go from 2/4 to 3/5.
	p := e.Primary()
	ev := paired.Compare("pass@1", 0.5, 0.5,
		repo.CasePairs{IDs: []string{"1", "2"}, List: []repo.CasePair{{Pass: true}, {}}}, repo.CasePairs{IDs: []string{"1", "2"}, List: []repo.CasePair{{}, {Pass: true}}}, 0.95)
	// Two pairs are too few to test: no interval, no p-value.
	if p == nil || p.Delta == nil || *p.Delta != ev.Delta || *p.DeltaAll != 0.1 || p.Pairs != 2 || p.CI != nil || p.P != nil || p.Note != ev.Note || p.Verdict != VerdictUnchanged {
		t.Errorf("primary row = %+v (paired Δ %v)", p, ev.Delta)
	}

	kinds := map[string]bool{}
	for _, cv := range d.Caveats {
		kinds[cv.Kind] = true
		if cv.Experiment != "x" {
			t.Errorf("caveat %+v", cv)
		}
	}
	if len(d.Caveats) != 2 || !kinds[CaveatGraders] || !kinds[CaveatFingerprint] ||
		!strings.Contains(d.Caveats[0].Message, "graders[0].case_sensitive") || !strings.Contains(d.Caveats[1].Message, "fp_a → fp_b") {
		t.Errorf("caveats = %+v", d.Caveats)
	}
	md := DiffMarkdown(d, DiffMarkdownOptions{})
	for _, want := range []string{"⚠️ graders changed; ⚠️ agent fingerprint changed\n", "> ⚠️ **Caveat** in `x`: graders changed",
		"✏️ Definition changed in <code>x</code> (2)", "🔀 Renamed in <code>x</code> (1)", "| `ok-1` |", "**Renamed (1)**"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if fixed := md[strings.Index(md, "✅ Fixed"):]; strings.Contains(fixed[:strings.Index(fixed, "</details>")], "refund-1") {
		t.Error("the loosened case is listed as fixed")
	}
}

// Results written before definitions were recorded pair by ID as before.
func TestClassifyWithoutDefinitions(t *testing.T) {
	a := []repo.CaseVerdict{{CaseID: "k", Label: repo.Fail}, {CaseID: "r", Label: repo.Pass, Definition: "def_1"}}
	b := []repo.CaseVerdict{{CaseID: "k", Label: repo.Pass, Definition: "def_2"}, {CaseID: "r", Label: repo.Pass}}
	c := classifyCases(verdictSeq(a), verdictSeq(b), nil)
	cd, pa, pb := c.cases, c.pairsA, c.pairsB
	if len(cd.Fixed) != 1 || cd.Fixed[0].ID != "k" || cd.UnchangedPassing != 1 || len(cd.Edited) != 0 || len(pa) != 2 || len(pb) != 2 {
		t.Errorf("cases = %+v", cd)
	}
}

func verdictSeq(vs []repo.CaseVerdict) iter.Seq[*repo.CaseVerdict] {
	return func(yield func(*repo.CaseVerdict) bool) {
		for i := range vs {
			if !yield(&vs[i]) {
				return
			}
		}
	}
}
