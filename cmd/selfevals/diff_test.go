package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-json"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/reports"
)

// diffCase is one case of the diff fixture: its dataset line and its
// verdict in the committed result.
type diffCase struct {
	name, text string
	label      repo.Label
	reason     string
}

const diffSpec = `experiment:
  name: support reply
  goal: answer support questions
  target:
    primary: {name: pass@1, operator: ">=", value: 0.8}
  parameters:
    model_params: {temperature: %s}
  search_space:
    model_params:
      temperature: [0.0, 0.3, 0.7]
dataset:
  cases_path: ../datasets/support.jsonl
agent:
  builtin: echo
graders:
  - {type: deterministic, name: rules}
`

const diffTaxonomy = `modes:
  - {slug: wrong_answer, title: Wrong answer, definition: the answer is wrong, status: official}
  - {slug: too_long, title: Too long, definition: the reply rambles, status: candidate}
%s`

// writeDiffFixture writes the spec, dataset, taxonomy and committed result
// files of one revision, the way a run would have left them.
func writeDiffFixture(t *testing.T, dir, temperature, extraModes string, cases []diffCase) map[string]string {
	t.Helper()
	var lines strings.Builder
	var verdicts []repo.CaseVerdict
	ids := map[string]string{}
	passed := 0
	for i, c := range cases {
		line := fmt.Sprintf(`{"name":%q,"input":{"text":%q},"expected":{"must_include":["pong"]}}`, c.name, c.text)
		lines.WriteString(line + "\n")
		dc, probs := repo.DecodeCaseJSON("support.jsonl", i+1, []byte(line))
		if len(probs) > 0 {
			t.Fatal(probs)
		}
		ids[c.name] = dc.ID
		v := repo.CaseVerdict{CaseID: dc.ID, Name: c.name, Label: c.label, Repetitions: 1, Reason: c.reason}
		if c.label == repo.Pass {
			v.Score, v.PassRate = 1, 1
			passed++
		} else {
			v.FailureModes = []string{"missing_required_substring"}
		}
		verdicts = append(verdicts, v)
	}
	n := len(cases)
	rate := float64(passed) / float64(n)
	primary := rate
	summary := &repo.ResultsSummary{
		SchemaVersion: "1", Experiment: repo.SummaryExperiment{Slug: "support", ID: "exp_0000000000000000", Name: "support reply"},
		DatasetID: "ds_0000000000000000", Cases: n, Repetitions: 1, Parameters: repo.Parameters{},
		Target:  repo.MetricTarget{Name: "pass@1", Operator: ">=", Value: 0.8},
		Primary: &primary, TargetMet: rate >= 0.8,
		Metrics: map[string]repo.SummaryMetric{
			"pass@1":     {Value: rate, CI: [2]float64{0, 1}, N: n},
			"mean_score": {Value: rate, CI: [2]float64{0, 1}, N: n},
			"error_rate": {Value: 0, CI: [2]float64{0, 0.5}, N: n},
		},
		FailureModes: map[string]int{"missing_required_substring": n - passed},
	}
	sum, casesJSONL, err := repo.EncodeResults(summary, verdicts)
	if err != nil {
		t.Fatal(err)
	}
	writeTree(t, dir, map[string]string{
		"evals/experiments/support.yaml":     fmt.Sprintf(diffSpec, temperature),
		"evals/datasets/support.jsonl":       lines.String(),
		"evals/taxonomy.yaml":                fmt.Sprintf(diffTaxonomy, extraModes),
		"evals/results/support/summary.json": string(sum),
		"evals/results/support/cases.jsonl":  string(casesJSONL),
	})
	return ids
}

// diffRepo makes a repository whose main branch has a committed result and
// whose feature branch adds a case (zeta), edits one (delta, which now
// fails: it must not count as a regression), regresses one (alpha) and
// fixes one (beta), with a spec and a taxonomy change.
func diffRepo(t *testing.T) (dir string, idsMain, idsFeature map[string]string) {
	t.Helper()
	dir = t.TempDir()
	git(t, dir, "init", "-q", "-b", "main")
	idsMain = writeDiffFixture(t, dir, "0.7", "", []diffCase{
		{"alpha", "ping alpha", repo.Pass, ""},
		{"beta", "ping beta", repo.Fail, `missing_required_substring: "pong" not found`},
		{"gamma", "ping gamma", repo.Pass, ""},
		{"delta", "ping delta", repo.Pass, ""},
		{"epsilon", "ping epsilon", repo.Fail, `missing_required_substring: "pong" not found`},
	})
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "main: committed result")
	git(t, dir, "checkout", "-q", "-b", "feature")
	idsFeature = writeDiffFixture(t, dir, "0.3", "  - {slug: off_topic, title: Off topic, definition: answers another question}\n", []diffCase{
		{"alpha", "ping alpha", repo.Fail, `missing_required_substring: "pong" not found; the agent said <details>miss|ed</details>`},
		{"beta", "ping beta", repo.Pass, ""},
		{"gamma", "ping gamma", repo.Pass, ""},
		{"delta", "ping delta, reworded", repo.Fail, `missing_required_substring: "pong" not found`},
		{"epsilon", "ping epsilon", repo.Fail, `missing_required_substring: "pong" not found`},
		{"zeta", "ping zeta", repo.Pass, ""},
	})
	// too_long becomes official.
	tax := strings.Replace(fmt.Sprintf(diffTaxonomy, "  - {slug: off_topic, title: Off topic, definition: answers another question}\n"), "status: candidate", "status: official", 1)
	writeTree(t, dir, map[string]string{"evals/taxonomy.yaml": tax})
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "feature: reword delta, add zeta, lower the temperature")
	return dir, idsMain, idsFeature
}

func caseNames(cs []reports.CaseChange) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

func TestDiffAcrossBranches(t *testing.T) {
	t.Parallel()
	dir, idsMain, idsFeature := diffRepo(t)

	out, errOut, code := runCLI(t, dir, "diff", "main", "HEAD", "--format", "json")
	if code != 0 {
		t.Fatalf("diff --format json: exit %d\n%s", code, errOut)
	}
	var d reports.DiffReport
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("diff JSON: %v\n%s", err, out)
	}
	if d.A.Name != "main" || d.B.Name != "HEAD" || len(d.A.Commit) != 40 || len(d.B.Commit) != 40 || d.A.Commit == d.B.Commit {
		t.Errorf("sides: A %+v, B %+v", d.A, d.B)
	}
	if len(d.Experiments) != 1 {
		t.Fatalf("experiments: %d", len(d.Experiments))
	}
	e := d.Experiments[0]
	c := e.Cases
	for _, check := range []struct {
		what string
		got  []string
		want []string
	}{
		{"regressed", caseNames(c.Regressed), []string{"alpha"}},
		{"fixed", caseNames(c.Fixed), []string{"beta"}},
		{"new", caseNames(c.New), []string{"zeta"}},
		{"definition changed", caseNames(c.Edited), []string{"delta"}},
		{"still failing", caseNames(c.StillFailing), []string{"epsilon"}},
		{"removed", caseNames(c.Removed), nil},
	} {
		if !slices.Equal(check.got, check.want) {
			t.Errorf("%s = %v, want %v", check.what, check.got, check.want)
		}
	}
	if c.UnchangedPassing != 1 {
		t.Errorf("unchanged passing = %d, want 1 (gamma)", c.UnchangedPassing)
	}
	if len(c.Edited) == 1 {
		ed := c.Edited[0]
		if ed.PreviousID != idsMain["delta"] || ed.ID != idsFeature["delta"] || ed.A.Label != repo.Pass || ed.B.Label != repo.Fail {
			t.Errorf("edited delta = %+v", ed)
		}
	}
	if len(c.Regressed) == 1 && !strings.Contains(c.Regressed[0].B.Reason, `"pong" not found`) {
		t.Errorf("the regression lost its grader reason: %+v", c.Regressed[0].B)
	}
	// Dataset changes are reported apart from the results, by content hash.
	ds := e.Dataset
	if ds == nil || ds.CasesA != 5 || ds.CasesB != 6 || len(ds.Added) != 1 || ds.Added[0].Name != "zeta" || ds.Added[0].ID != idsFeature["zeta"] ||
		len(ds.Removed) != 0 || len(ds.Edited) != 1 || ds.Edited[0] != (reports.CaseEdited{Name: "delta", From: idsMain["delta"], To: idsFeature["delta"]}) {
		t.Errorf("dataset diff = %+v", ds)
	}
	if e.Pairs != 4 {
		t.Errorf("pairs = %d, want 4 (alpha, beta, gamma, epsilon)", e.Pairs)
	}
	// On the four shared cases one regressed and one was fixed: the paired
	// Δ is 0 (the all-cases values, 0.6 → 0.5, also count zeta and delta).
	// Four pairs are too few for any result to be significant: no p-value.
	if p := e.Primary(); p == nil || p.Name != "pass@1" || p.Test != "" || p.P != nil || !strings.Contains(p.Note, "too few cases to test (n=4") || p.Verdict != reports.VerdictUnchanged ||
		*p.Delta != 0 || *p.DeltaAll != -0.1 {
		t.Errorf("primary metric row = %+v", p)
	}
	if !e.Regressed || len(e.Reasons) != 1 || e.Reasons[0] != "1 case regressed" {
		t.Errorf("regressed = %v %v", e.Regressed, e.Reasons)
	}
	var specPaths []string
	for _, f := range e.Spec {
		specPaths = append(specPaths, fmt.Sprintf("%s %s→%s", f.Path, f.A, f.B))
	}
	if !slices.Equal(specPaths, []string{"experiment.parameters.model_params.temperature 0.7→0.3"}) {
		t.Errorf("spec changes = %v", specPaths)
	}
	tx := d.Taxonomy
	if tx == nil || len(tx.Added) != 1 || tx.Added[0].Slug != "off_topic" || len(tx.StatusChanged) != 1 ||
		tx.StatusChanged[0] != (reports.ModeStatus{Slug: "too_long", From: "candidate", To: "official"}) || len(tx.Removed) != 0 {
		t.Errorf("taxonomy diff = %+v", tx)
	}

	// The markdown: verdict first, the edited case apart, sections intact.
	md, _, code := runCLI(t, dir, "diff", "main", "HEAD")
	if code != 0 {
		t.Fatalf("diff: exit %d", code)
	}
	if first := strings.SplitN(md, "\n", 2)[0]; !strings.HasPrefix(first, "### ❌ 1 regression in support (pass@1 0.6 → 0.5)") {
		t.Errorf("first line = %q", first)
	}
	for _, want := range []string{"❌ Regressed in <code>support</code> (1)", "✏️ Definition changed in <code>support</code> (1)",
		"🗂️ Dataset changes in <code>support</code> (+1 −0 ~1)", "⚙️ Spec changes in <code>support</code>", "🏷️ Taxonomy changes",
		"`experiment.parameters.model_params.temperature` | `0.7` | `0.3`", "&lt;details&gt;miss\\|ed&lt;/details&gt;", "dataset +1 −0 ~1"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	if strings.Count(md, "<details>") != strings.Count(md, "</details>") {
		t.Error("unbalanced <details> in the markdown")
	}
	regressions := md[strings.Index(md, "❌ Regressed"):]
	regressions = regressions[:strings.Index(regressions, "</details>")]
	if strings.Contains(regressions, "delta") {
		t.Errorf("the edited case is listed as a regression:\n%s", regressions)
	}

	// The gate.
	_, errOut, code = runCLI(t, dir, "diff", "main", "HEAD", "--fail-on", "regression")
	if code != 4 || !strings.Contains(errOut, "support: 1 case regressed") {
		t.Errorf("--fail-on regression: exit %d, stderr %q", code, errOut)
	}
	_, _, code = runCLI(t, dir, "diff", "HEAD", "HEAD", "--fail-on", "regression")
	if code != 0 {
		t.Errorf("diff HEAD HEAD --fail-on regression: exit %d", code)
	}
	// Keyed by position: the reverse diff sees beta regress and alpha fixed.
	out, _, _ = runCLI(t, dir, "diff", "HEAD", "main", "--format", "json")
	var rev reports.DiffReport
	if err := json.Unmarshal([]byte(out), &rev); err != nil {
		t.Fatal(err)
	}
	if r := rev.Experiments[0].Cases; !slices.Equal(caseNames(r.Regressed), []string{"beta"}) || !slices.Equal(caseNames(r.Fixed), []string{"alpha"}) ||
		!slices.Equal(caseNames(r.Removed), []string{"zeta"}) || !slices.Equal(caseNames(r.Edited), []string{"delta"}) {
		t.Errorf("reverse diff cases = %+v", r)
	}
}

// Without a second revision, B is the working tree: an uncommitted change
// of the results shows up.
func TestDiffAgainstTheWorkingTree(t *testing.T) {
	t.Parallel()
	dir, _, _ := diffRepo(t)
	out, _, code := runCLI(t, dir, "diff")
	if code != 0 || !strings.HasPrefix(out, "### ✅ no regressions; nothing changed") {
		t.Errorf("clean tree: exit %d\n%s", code, out)
	}
	p := filepath.Join(dir, "evals/results/support/cases.jsonl")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var v repo.CaseVerdict
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatal(err)
		}
		if v.Name == "gamma" {
			v.Label, v.Score, v.PassRate, v.Reason = repo.Error, 0, 0, "agent timed out"
		}
		nl, _ := json.Marshal(v)
		lines = append(lines, string(nl))
	}
	os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	out, errOut, code := runCLI(t, dir, "diff", "HEAD", "--format", "json", "--experiment", "support")
	if code != 0 {
		t.Fatalf("diff HEAD: exit %d %s", code, errOut)
	}
	var d reports.DiffReport
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	if d.B.Name != "working tree" || d.B.Commit != "" {
		t.Errorf("B = %+v", d.B)
	}
	if got := caseNames(d.Experiments[0].Cases.Regressed); !slices.Equal(got, []string{"gamma"}) {
		t.Errorf("regressed against the working tree = %v", got)
	}
	_, _, code = runCLI(t, dir, "diff", "--fail-on", "regression")
	if code != 4 {
		t.Errorf("diff --fail-on regression against the working tree: exit %d", code)
	}
}

func TestDiffErrors(t *testing.T) {
	t.Parallel()
	dir, _, _ := diffRepo(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"diff", "nope"}, `unknown revision "nope"`},
		{[]string{"diff", "HEAD@{1}"}, "reflog"},
		{[]string{"diff", "main", "HEAD", "--experiment", "missing"}, `experiment "missing" is in neither`},
		{[]string{"diff", "--format", "xml"}, `"xml" for "--format" flag: must be md (or markdown) or json`},
		{[]string{"diff", "--fail-on", "anything"}, "--fail-on must be regression"},
		{[]string{"diff", "a", "b", "c"}, "accepts at most 2 arg"},
	} {
		_, errOut, code := runCLI(t, dir, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 with %q", tc.args, code, errOut, tc.want)
		}
	}
	outside := t.TempDir()
	writeTree(t, outside, map[string]string{"evals/selfevals.yaml": "name: x\n"})
	if _, errOut, code := runCLI(t, outside, "diff"); code != 2 || !strings.Contains(errOut, "not inside a git repository") {
		t.Errorf("outside git: exit %d %q", code, errOut)
	}
}

// A CI checkout is a shallow clone of the feature branch: main is not
// there, and the error gives the fetch command that brings it.
func TestDiffShallowClone(t *testing.T) {
	t.Parallel()
	dir, _, _ := diffRepo(t)
	origin := filepath.Join(t.TempDir(), "origin.git")
	git(t, dir, "clone", "-q", "--bare", dir, origin)
	clone := filepath.Join(t.TempDir(), "clone")
	git(t, dir, "clone", "-q", "--depth=1", "--branch", "feature", "file://"+filepath.ToSlash(origin), clone)

	hint := "git fetch --no-tags --depth=1 origin +refs/heads/main:refs/remotes/origin/main"
	for _, rev := range []string{"origin/main", "main"} {
		_, errOut, code := runCLI(t, clone, "diff", rev, "HEAD")
		if code != 2 || !strings.Contains(errOut, hint) {
			t.Errorf("diff %s HEAD in a shallow clone: exit %d, stderr %q", rev, code, errOut)
		}
	}
	git(t, clone, strings.Fields(strings.TrimPrefix(hint, "git "))...)
	out, errOut, code := runCLI(t, clone, "diff", "origin/main", "HEAD")
	if code != 0 || !strings.Contains(out, "1 regression in support") {
		t.Errorf("after the fetch: exit %d\n%s%s", code, out, errOut)
	}
	// main is the feature's parent, so the two fetched commits hold where
	// they meet.
	if out, errOut, code := runCLI(t, clone, "diff", "origin/main...HEAD"); code != 0 || !strings.Contains(out, "1 regression in support") {
		t.Errorf("diff origin/main...HEAD in a shallow clone: exit %d\n%s%s", code, out, errOut)
	}
}

// A case with an explicit id whose expectation is loosened between two
// real runs: the committed verdicts carry each case's definition, so diff
// shows a definition change, not a fix, and the gate passes; a renamed
// case is the same case, and changed graders are a caveat.
func TestDiffDefinitionChangedByRealRuns(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	git(t, dir, "init", "-q", "-b", "main")
	spec := `experiment:
  name: refunds
  goal: answer refunds
  target: {primary: {name: pass@1, operator: ">=", value: 0.5}}
dataset: {cases_path: ../datasets/refunds.jsonl}
agent: {builtin: echo}
graders:
  - {type: deterministic, name: rules%s}
`
	cases := func(expected, name string) string {
		return `{"id":"refund-1","input":{"text":"a refund please"},"expected":{"must_include":[` + expected + `]}}` + "\n" +
			`{"name":` + name + `,"input":{"text":"where is my order"},"expected":{"must_include":["order"]}}` + "\n"
	}
	run := func(msg string) {
		t.Helper()
		if _, errOut, code := runCLI(t, dir, "run", "evals/experiments/refunds.yaml", "--no-commit"); code != 0 {
			t.Fatalf("run: exit %d\n%s", code, errOut)
		}
		git(t, dir, "add", "-A", "evals/experiments", "evals/datasets", "evals/results")
		git(t, dir, "commit", "-q", "-m", msg)
	}
	writeTree(t, dir, map[string]string{
		"evals/experiments/refunds.yaml": fmt.Sprintf(spec, ""),
		"evals/datasets/refunds.jsonl":   cases(`"a full refund today"`, `"order status"`),
	})
	run("A: refund-1 fails")
	writeTree(t, dir, map[string]string{
		"evals/experiments/refunds.yaml": fmt.Sprintf(spec, ", case_sensitive: true"),
		"evals/datasets/refunds.jsonl":   cases(`"refund"`, `"where is it"`),
	})
	run("B: refund-1 loosened, the other case renamed")

	out, errOut, code := runCLI(t, dir, "diff", "main~1", "main", "--format", "json", "--fail-on", "regression")
	if code != 0 {
		t.Fatalf("diff --fail-on regression: exit %d\n%s", code, errOut)
	}
	var d reports.DiffReport
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("diff JSON: %v\n%s", err, out)
	}
	c := d.Experiments[0].Cases
	if len(c.Edited) != 1 || c.Edited[0].ID != "refund-1" || c.Edited[0].A.Label != repo.Fail || c.Edited[0].B.Label != repo.Pass ||
		c.Edited[0].A.Definition == c.Edited[0].B.Definition || c.Edited[0].A.Definition == "" {
		t.Errorf("definition changed = %+v", c.Edited)
	}
	if len(c.Fixed)+len(c.Regressed)+len(c.New)+len(c.Removed) != 0 || c.UnchangedPassing != 1 ||
		len(c.Renamed) != 1 || c.Renamed[0].Name != "where is it" || c.Renamed[0].PreviousID == "" {
		t.Errorf("cases = %+v", c)
	}
	if len(d.Caveats) != 1 || d.Caveats[0].Kind != reports.CaveatGraders {
		t.Errorf("caveats = %+v", d.Caveats)
	}
	md, _, _ := runCLI(t, dir, "diff", "main~1", "main")
	if !strings.HasPrefix(md, "### ✅ no regressions; 1 edited case; ⚠️ graders changed\n\n> ⚠️ **Caveat** in `refunds`: graders changed (graders[0].case_sensitive)") {
		t.Errorf("markdown:\n%s", md)
	}
}

// A changed agent fingerprint in the committed summaries is a caveat.
func TestDiffFingerprintCaveat(t *testing.T) {
	t.Parallel()
	dir, _, _ := diffRepo(t)
	sum := filepath.Join(dir, "evals/results/support/summary.json")
	data, err := os.ReadFile(sum)
	if err != nil {
		t.Fatal(err)
	}
	git(t, dir, "checkout", "-q", "main")
	writeTree(t, dir, map[string]string{"evals/results/support/summary.json": strings.Replace(string(data), `"agent_fingerprint": ""`, `"agent_fingerprint": "fp_new"`, 1)})
	git(t, dir, "commit", "-q", "-am", "fingerprint")
	writeTree(t, dir, map[string]string{"evals/results/support/summary.json": strings.Replace(string(data), `"agent_fingerprint": ""`, `"agent_fingerprint": "fp_newer"`, 1)})
	out, errOut, code := runCLI(t, dir, "diff", "HEAD", "--format", "json")
	if code != 0 {
		t.Fatalf("diff: exit %d\n%s", code, errOut)
	}
	var d reports.DiffReport
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	// The fixture's summaries carry made-up IDs, which are stale caveats
	// of their own.
	var fingerprint []reports.Caveat
	for _, c := range d.Caveats {
		if c.Kind != reports.CaveatStaleResults {
			fingerprint = append(fingerprint, c)
		}
	}
	if len(fingerprint) != 1 || fingerprint[0].Kind != reports.CaveatFingerprint || !strings.Contains(fingerprint[0].Message, "fp_new → fp_newer") {
		t.Errorf("caveats = %+v", d.Caveats)
	}
}

// A pull request's diff is what its branch changed since it left main:
// diff main...HEAD compares the merge base with HEAD, so a failure mode
// that landed on main meanwhile is not shown as removed by the branch, as
// diff main HEAD shows it (with a caveat naming main...HEAD).
func TestDiffMergeBase(t *testing.T) {
	t.Parallel()
	dir, _, _ := diffRepo(t)
	base := strings.TrimSpace(git(t, dir, "rev-parse", "main"))
	git(t, dir, "checkout", "-q", "main")
	writeTree(t, dir, map[string]string{"evals/taxonomy.yaml": fmt.Sprintf(diffTaxonomy, "  - {slug: landed_on_main, title: Landed on main, definition: added on main after the branch}\n")})
	git(t, dir, "commit", "-q", "-am", "main: a new failure mode")
	git(t, dir, "checkout", "-q", "feature")

	diff := func(args ...string) reports.DiffReport { t.Helper(); return diffJSON(t, dir, args...) }
	removedOnMain := func(d reports.DiffReport) bool {
		return d.Taxonomy != nil && slices.ContainsFunc(d.Taxonomy.Removed, func(m reports.ModeRef) bool { return m.Slug == "landed_on_main" })
	}

	d := diff("main", "HEAD")
	if !removedOnMain(d) || len(d.Caveats) == 0 || d.Caveats[0].Kind != reports.CaveatDiverged ||
		!strings.Contains(d.Caveats[0].Message, "main is not an ancestor of HEAD") || !strings.Contains(d.Caveats[0].Message, "selfevals diff main...HEAD") {
		t.Errorf("diff main HEAD: taxonomy %+v, caveats %+v", d.Taxonomy, d.Caveats)
	}
	for _, args := range [][]string{{"main...HEAD"}, {"main...feature"}} {
		d = diff(args...)
		if removedOnMain(d) || d.A.Commit != base || d.A.Name != "merge base of main and "+strings.TrimPrefix(args[0], "main...") || d.B.Name == "working tree" {
			t.Errorf("diff %v: A %+v, B %s, taxonomy %+v", args, d.A, d.B.Name, d.Taxonomy)
		}
		if slices.ContainsFunc(d.Caveats, func(c reports.Caveat) bool { return c.Kind == reports.CaveatDiverged }) {
			t.Errorf("diff %v has the diverged caveat: %+v", args, d.Caveats)
		}
		if len(d.Experiments) != 1 || len(d.Experiments[0].Cases.Regressed) != 1 {
			t.Errorf("diff %v lost the branch's regression: %+v", args, d.Experiments)
		}
	}
	// One revision against the working tree: the caveat names main...
	if d = diff("main"); len(d.Caveats) == 0 || !strings.Contains(d.Caveats[0].Message, "show here as changes of the working tree") ||
		!strings.HasSuffix(d.Caveats[0].Message, "run selfevals diff main...") {
		t.Errorf("diff main: caveats %+v", d.Caveats)
	}
	// An omitted end is the working tree, as with one revision.
	if d = diff("main..."); d.A.Commit != base || d.B.Name != "working tree" || removedOnMain(d) {
		t.Errorf("diff main...: A %+v, B %s", d.A, d.B.Name)
	}
	// From main's side, the branch is not an ancestor either way; HEAD
	// against its own ancestor has no divergence caveat (the fixture's
	// made-up IDs make its results stale, which is another caveat).
	if d = diff(base, "HEAD"); slices.ContainsFunc(d.Caveats, func(c reports.Caveat) bool { return c.Kind == reports.CaveatDiverged }) {
		t.Errorf("diff of an ancestor: caveats %+v", d.Caveats)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"diff", "main...HEAD", "HEAD"}, "a range is one argument"},
		{[]string{"diff", "nope...HEAD"}, `unknown revision "nope"`},
		{[]string{"diff", "main...HEAD...x"}, "use A...B or A..B"},
	} {
		if _, errOut, code := runCLI(t, dir, tc.args...); code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 with %q", tc.args, code, errOut, tc.want)
		}
	}
	// A shallow clone with main's tip and the branch's lacks their merge
	// base: the error says how to fetch it.
	clone := filepath.Join(t.TempDir(), "clone")
	git(t, dir, "clone", "-q", "--depth=1", "--no-single-branch", "file://"+filepath.ToSlash(dir), clone)
	if _, errOut, code := runCLI(t, clone, "diff", "origin/main...HEAD"); code != 2 || !strings.Contains(errOut, "git fetch --unshallow") {
		t.Errorf("diff origin/main...HEAD in a shallow clone: exit %d, stderr %q", code, errOut)
	}
	git(t, clone, "fetch", "-q", "--unshallow")
	if d := diffJSON(t, clone, "origin/main...HEAD"); d.A.Commit != base {
		t.Errorf("after git fetch --unshallow: A %+v", d.A)
	}

	orphan := strings.TrimSpace(git(t, dir, "commit-tree", "-m", "unrelated", strings.TrimSpace(git(t, dir, "rev-parse", "HEAD^{tree}"))))
	if _, errOut, code := runCLI(t, dir, "diff", orphan+"...HEAD"); code != 2 || !strings.Contains(errOut, "have no common history") {
		t.Errorf("an unrelated history: exit %d %q", code, errOut)
	}
}

// diffJSON runs diff with args in dir and decodes its JSON.
func diffJSON(t *testing.T, dir string, args ...string) reports.DiffReport {
	t.Helper()
	out, errOut, code := runCLI(t, dir, append(append([]string{"diff"}, args...), "--format", "json")...)
	if code != 0 {
		t.Fatalf("diff %v: exit %d\n%s", args, code, errOut)
	}
	var d reports.DiffReport
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("diff JSON: %v\n%s", err, out)
	}
	return d
}
