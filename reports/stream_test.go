package reports

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/selfevals/selfevals/internal/heaptest"
	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/gitstore"
	"github.com/selfevals/selfevals/repo/runstore"
)

// syntheticRun writes a run of n cases × reps repetitions to a temporary
// run directory with the run store's own writer, in a shuffled order (as
// parallel calls finish), plus a second iteration the reports must skip.
// Every third case fails; every fifth of those has an agent error.
func syntheticRun(tb testing.TB, n, reps int) (*repo.RunSummary, string) {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "run")
	run := runstore.At(dir)
	if err := run.Create(); err != nil {
		tb.Fatal(err)
	}
	w, err := run.OpenResultWriter()
	if err != nil {
		tb.Fatal(err)
	}
	order := make([]int, n*reps)
	for i := range order {
		order[i] = i
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	pad := strings.Repeat("lorem ipsum ", 20)
	for _, k := range order {
		if err := w.Write(syntheticResult(k/reps, k%reps, 0, pad)); err != nil {
			tb.Fatal(err)
		}
		if k%reps == 0 && k%7 == 0 {
			if err := w.Write(syntheticResult(k/reps, 0, 1, pad)); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	rs := &repo.RunSummary{Slug: "big", RunID: "run_0000000000000001", Name: "big", Cases: n,
		Target: repo.MetricTarget{Name: "pass@1", Operator: ">=", Value: 0.5}}
	return rs, dir
}

func syntheticResult(i, rep, iteration int, pad string) *repo.Result {
	r := &repo.Result{Trace: repo.Trace{ID: fmt.Sprintf("tr_%d_%d_%d", i, rep, iteration), CaseID: fmt.Sprintf("case_%08d", i),
		Iteration: iteration, Repetition: rep, Output: fmt.Sprintf("answer %d: %s", i, pad), LatencyMS: 2}}
	r.Label, r.Score = repo.Pass, 1
	r.Grades = []repo.Grade{{Grader: "rules", Label: repo.Pass}}
	switch {
	case i%15 == 0:
		r.Label, r.Score, r.Error, r.ErrorKind = repo.Error, 0, "connection refused", "agent_error"
		r.Grades = nil
	case i%3 == 0:
		r.Label, r.Score = repo.Fail, 0
		r.Grades = []repo.Grade{{Grader: "rules", Label: repo.Fail, Reason: "missing_required_substring", FailureModes: []string{fmt.Sprintf("mode_%d", i%4)}}}
	}
	if rep == 1 && i%2 == 0 { // a flaky second repetition
		r.Label = repo.Fail
	}
	return r
}

// TestStreamedCasesMatchTheRecord checks the sorted, spilled stream against
// a reading of the record into memory: every case once, in ID order, its
// first repetition in full and the others counted, even when the sort
// spills to many files.
func TestStreamedCasesMatchTheRecord(t *testing.T) {
	t.Parallel()
	rs, dir := syntheticRun(t, 2000, 2)
	want := map[string]*caseResult{}
	err := runstore.At(dir).Results(func(r *repo.Result) error {
		if r.Iteration != 0 {
			return nil
		}
		c := want[r.CaseID]
		if c == nil {
			c = &caseResult{ID: r.CaseID, Name: r.CaseID}
			want[r.CaseID] = c
		}
		c.Repetitions++
		if r.Label == repo.Pass {
			c.Passes++
		}
		if r.Repetition == 0 {
			c.Label, c.Output, c.Error = r.Label, r.Output, r.Error
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, budget := range []int{1 << 10, 1 << 30} { // many spill files; none
		var ids []string
		err := eachIterationCase(rs, dir, 0, caseOptions{budget: budget}, func(c *caseResult) error {
			w := want[c.ID]
			if w == nil || c.Label != w.Label || c.Output != w.Output || c.Error != w.Error || c.Repetitions != w.Repetitions || c.Passes != w.Passes {
				return fmt.Errorf("case %s: got %+v, want %+v", c.ID, c, w)
			}
			ids = append(ids, c.ID)
			return nil
		})
		if err != nil {
			t.Fatalf("budget %d: %v", budget, err)
		}
		if len(ids) != len(want) || !slices.IsSorted(ids) {
			t.Errorf("budget %d: %d cases (want %d), sorted %v", budget, len(ids), len(want), slices.IsSorted(ids))
		}
	}
}

// TestLargeRunReportsInBoundedMemory renders a 300,000-case run as JUnit
// and HTML under a 64 MiB soft memory limit, sampling
// the live heap as they go. Holding the cases, as the reports did, takes
// several hundred megabytes; the streamed reports stay under 80 MiB (the
// sort's 16 MiB batch, the page's counts, and the collector's slack).
func TestLargeRunReportsInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 300,000-case run")
	}
	const n = 300_000
	rs, dir := syntheticRun(t, n, 1)
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(64 << 20))
	runtime.GC()

	var junit countingWriter
	peak := heaptest.Peak(t, func() error { return WriteJUnit(&junit, rs, dir) })
	t.Logf("junit: %d MB written, heap peak %d MB", junit.n>>20, peak>>20)
	if peak > 80<<20 {
		t.Errorf("junit: heap peaked at %d MB", peak>>20)
	}
	if !bytes.Contains(junit.head, []byte(fmt.Sprintf(`<testsuites name="selfevals" tests="%d" failures="%d" errors="%d"`, n, n/3-n/15, n/15))) {
		t.Errorf("junit head:\n%s", junit.head)
	}

	html := countingWriter{keepAll: true}
	peak = heaptest.Peak(t, func() error { return WriteHTML(&html, rs, dir) })
	t.Logf("html: %d MB written, heap peak %d MB", html.n>>20, peak>>20)
	if peak > 80<<20 {
		t.Errorf("html: heap peaked at %d MB", peak>>20)
	}
	if html.n > 20<<20 {
		t.Errorf("the page is %d MB: it should list a bounded number of cases", html.n>>20)
	}
	for _, want := range []string{fmt.Sprintf("%d of %d cases pass", n-n/3, n), "<code>mode_1</code>", "more are not in this page"} {
		if !bytes.Contains(html.all, []byte(want)) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

// countingWriter counts what is written, keeping the first 4 KiB and,
// with keepAll, up to 32 MiB.
type countingWriter struct {
	n       int
	head    []byte
	keepAll bool
	all     []byte
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	if len(w.head) < 4<<10 {
		w.head = append(w.head, p[:min(len(p), 4<<10-len(w.head))]...)
	}
	if w.keepAll && len(w.all)+len(p) <= 32<<20 {
		w.all = append(w.all, p...)
	}
	return len(p), nil
}

// TestJUnitStreamsEveryCaseInOrder checks the JUnit document of a run with
// repetitions: well-formed, one testcase per case, in case ID order.
func TestJUnitStreamsEveryCaseInOrder(t *testing.T) {
	t.Parallel()
	rs, dir := syntheticRun(t, 3000, 2)
	var b bytes.Buffer
	if err := writeJUnit(&b, rs, dir, caseOptions{budget: 64 << 10}); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(&b)
	var names []string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "testcase" {
			names = append(names, se.Attr[0].Value)
		}
	}
	if len(names) != 3000 || !slices.IsSorted(names) {
		t.Errorf("%d testcases, sorted %v", len(names), slices.IsSorted(names))
	}
}

// TestHTMLListEscapes checks a reason that would close the script element
// holding the paged list is escaped in it.
func TestHTMLListEscapes(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "run")
	run := runstore.At(dir)
	if err := run.Create(); err != nil {
		t.Fatal(err)
	}
	w, err := run.OpenResultWriter()
	if err != nil {
		t.Fatal(err)
	}
	for i := range htmlFullRows + 5 {
		r := &repo.Result{Trace: repo.Trace{ID: fmt.Sprint(i), CaseID: fmt.Sprintf("case_%04d", i)}, Label: repo.Fail,
			Grades: []repo.Grade{{Grader: "judge", Label: repo.Fail, Reason: `</script><script>alert(1)</script>`}}}
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	page, err := HTML(&repo.RunSummary{Slug: "x"}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if c := bytes.Count(page, []byte("</script>")); c != 2 { // the list's and the pager's
		t.Errorf("%d </script> in the page:\n%s", c, page)
	}
	if !bytes.Contains(page, []byte("5 more in the paged list")) {
		t.Errorf("the page does not count the paged list")
	}
}

func BenchmarkJUnitStream(b *testing.B) { benchReport(b, WriteJUnit) }
func BenchmarkHTMLStream(b *testing.B)  { benchReport(b, WriteHTML) }

// benchReport renders a 20,000-case run; b.SetBytes is results.jsonl's
// size, so MB/s compares with reading the file.
func benchReport(b *testing.B, write func(io.Writer, *repo.RunSummary, string) error) {
	rs, dir := syntheticRun(b, 20_000, 1)
	size, err := fileSize(runstore.At(dir).Dir().Results())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		if err := write(io.Discard, rs, dir); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadResults is the floor of the streamed reports: decoding
// results.jsonl and nothing else.
func BenchmarkReadResults(b *testing.B) {
	_, dir := syntheticRun(b, 20_000, 1)
	size, err := fileSize(runstore.At(dir).Dir().Results())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		if err := runstore.At(dir).Results(func(*repo.Result) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

func fileSize(path string) (int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// syntheticResults writes the committed result of experiment "big" with n
// cases under root/evals, with repo's writer: case i passes unless i%3 is
// 0, or, at B (flip), unless i%50 is 1 (a regression) or i%60 is 0 (a
// fix where it failed).
func syntheticResults(tb testing.TB, root string, n int, flip bool) {
	tb.Helper()
	cases := make([]repo.CaseVerdict, n)
	for i := range cases {
		pass := i%3 != 0
		if flip && i%50 == 1 {
			pass = false
		}
		if flip && i%60 == 0 {
			pass = true
		}
		v := repo.CaseVerdict{CaseID: fmt.Sprintf("case_%08d", i), Name: fmt.Sprintf("case %d", i), Label: repo.Pass, Score: 1, PassRate: 1, Repetitions: 1,
			Definition: fmt.Sprintf("def_%016x", i)}
		if !pass {
			v.Label, v.Score, v.PassRate, v.Reason, v.FailureModes = repo.Fail, 0, 0, `missing_required_substring: "pong" not found`, []string{"missing_required_substring"}
		}
		cases[i] = v
	}
	primary := 0.5
	sum := &repo.ResultsSummary{SchemaVersion: "1", Experiment: repo.SummaryExperiment{Slug: "big"}, Cases: n, Repetitions: 1,
		Target: repo.MetricTarget{Name: "pass@1", Operator: ">=", Value: 0.5}, Primary: &primary,
		Metrics: map[string]repo.SummaryMetric{"pass@1": {Value: primary, N: n}}}
	summary, jsonl, err := repo.EncodeResults(sum, cases)
	if err != nil {
		tb.Fatal(err)
	}
	evals := repo.Dir(filepath.Join(root, "evals"))
	if err := os.MkdirAll(filepath.Dir(evals.CaseVerdicts("big")), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(evals.CaseVerdicts("big"), jsonl, 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(evals.Summary("big"), summary, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// TestLargeDiffInBoundedMemory diffs two committed results of 300,000
// cases under a 64 MiB soft memory limit, sampling the live heap: the two
// files (50 MB each) are merged as they stream, not held (reading them
// whole took over 250 MB). What grows with the cases is the outcome pairs
// the paired tests need, 40 bytes a case a side.
func TestLargeDiffInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes two 300,000-case results")
	}
	const n = 300_000
	dirA, dirB := t.TempDir(), t.TempDir()
	syntheticResults(t, dirA, n, false)
	syntheticResults(t, dirB, n, true)
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(64 << 20))
	runtime.GC()

	var d *DiffReport
	peak := heaptest.Peak(t, func() (err error) {
		d, err = Diff(Revision{Name: "a", Tree: os.DirFS(dirA)}, Revision{Name: "b", Tree: os.DirFS(dirB)}, DiffOptions{})
		return err
	})
	t.Logf("diff: heap peak %d MB", peak>>20)
	if peak > 100<<20 {
		t.Errorf("diff: heap peaked at %d MB", peak>>20)
	}
	cd := d.Experiments[0].Cases
	// Regressions: i%50 == 1 that passed at A (i%3 != 0) and is not a fix
	// (i%60 != 0); fixes: i%60 == 0 (all failed at A, as 3 divides 60).
	regressed, fixed := 0, 0
	for i := range n {
		if i%50 == 1 && i%3 != 0 && i%60 != 0 {
			regressed++
		}
		if i%60 == 0 {
			fixed++
		}
	}
	if cd.Counts.Regressed != regressed || cd.Counts.Fixed != fixed || len(cd.Regressed) != maxDiffCases || cd.Regressed[0].ID != "case_00000001" ||
		d.Experiments[0].Pairs != n || !d.Experiments[0].Regressed {
		t.Errorf("counts %+v (want %d regressed, %d fixed), %d listed, pairs %d", cd.Counts, regressed, fixed, len(cd.Regressed), d.Experiments[0].Pairs)
	}
}

// diffBenchResults writes two committed results of 20,000 cases for the
// diff benchmarks, and sets the bytes of an iteration to both cases.jsonl.
func diffBenchResults(b *testing.B) (dirA, dirB string) {
	dirA, dirB = b.TempDir(), b.TempDir()
	syntheticResults(b, dirA, 20_000, false)
	syntheticResults(b, dirB, 20_000, true)
	sa, err := fileSize(repo.Dir(filepath.Join(dirA, "evals")).CaseVerdicts("big"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(2 * sa)
	b.ReportAllocs()
	return dirA, dirB
}

// BenchmarkDiffStream diffs two committed results of 20,000 cases; bytes
// are both cases.jsonl.
func BenchmarkDiffStream(b *testing.B) {
	dirA, dirB := diffBenchResults(b)
	for b.Loop() {
		if _, err := Diff(Revision{Name: "a", Tree: os.DirFS(dirA)}, Revision{Name: "b", Tree: os.DirFS(dirB)}, DiffOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadVerdicts is the floor of the diff: decoding both
// cases.jsonl and nothing else.
func BenchmarkReadVerdicts(b *testing.B) {
	dirA, dirB := diffBenchResults(b)
	for b.Loop() {
		for _, dir := range []string{dirA, dirB} {
			err := repo.EachCaseVerdictFS(os.DirFS(dir), "evals/results/big/cases.jsonl", func(*repo.CaseVerdict) error { return nil })
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}

// TestAppendTestcase holds the hand-written testcase to encoding/xml's
// bytes, for every kind of outcome and text that needs escaping.
func TestAppendTestcase(t *testing.T) {
	t.Parallel()
	odd := "a \"quoted\" <tag> & 'apostrophe'\n\ttab\r\x00 bad \xff byte é"
	for _, tc := range []junitCase{
		{Name: "plain", Classname: "selfevals.x", Time: "0.001"},
		{Name: odd, Classname: "selfevals.x", Time: "1.000", Failure: &junitProblem{Message: odd, Type: "fail", Text: odd}},
		{Name: "e", Classname: "c", Time: "0", Error: &junitProblem{Message: "m", Type: "timeout", Text: "t"}},
		{Name: "s", Classname: "c", Time: "0", Skipped: &junitProblem{Message: "why"}},
		{Name: "", Classname: "", Time: "", Failure: &junitProblem{}},
	} {
		want, err := xml.MarshalIndent(tc, "    ", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if got := appendTestcase(nil, tc); string(got) != "\n"+string(want) {
			t.Errorf("got:\n%q\nwant:\n%q", got, "\n"+string(want))
		}
	}
}

// TestLargePackedDiffInBoundedMemory diffs two commits of a 300,000-case
// experiment after `git gc --aggressive`, which stores the dataset and
// cases.jsonl of one commit as deltas of the other's, under a 64 MiB soft
// memory limit, sampling the live heap. go-git resolved each delta in
// memory beside its base (350-390 MB of RSS); the blobs now stream from
// git. B edits every 1,000th case of the dataset and adds 10, and keeps
// A's results' dataset ID: its results are stale, which the dataset's ID
// (streamed) says.
func TestLargePackedDiffInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("commits and packs two 300,000-case results")
	}
	const n = 300_000
	dir, git, write := gitDir(t)
	git("init", "-q", "-b", "main")
	evals := repo.Dir(filepath.Join(dir, "evals"))
	var dsID string
	added := map[bool]int{true: 10}
	for _, b := range []bool{false, true} {
		syntheticResults(t, dir, n, b)
		var ds strings.Builder
		for i := range n {
			text := fmt.Sprintf("ping tok%d and some padding to make the line longer", i)
			if b && i%1000 == 0 {
				text += " (reworded)"
			}
			fmt.Fprintf(&ds, `{"id":"c%07d","input":{"text":%q},"expected":{"must_include":["tok%d"]}}`+"\n", i, text, i)
		}
		for i := range added[b] {
			fmt.Fprintf(&ds, `{"id":"new%d","input":{"text":"a new case"}}`+"\n", i)
		}
		write(map[string]string{
			"evals/experiments/big.yaml": "experiment:\n  name: big\n  goal: g\n  target: {primary: {name: pass@1, operator: \">=\", value: 0.5}}\n" +
				"dataset: {cases_path: ../datasets/big.jsonl}\nagent: {builtin: echo}\n",
			"evals/datasets/big.jsonl": ds.String(),
		})
		if !b {
			d, err := repo.LoadDataset(filepath.Join(dir, "evals", "datasets", "big.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			dsID = d.ID
		}
		setSummaryDatasetID(t, evals.Summary("big"), dsID)
		git("add", "-A")
		git("commit", "-q", "-m", fmt.Sprint("flip ", b))
	}
	git("gc", "-q", "--aggressive")
	g, err := gitstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(64 << 20))
	runtime.GC()

	var d *DiffReport
	peak := heaptest.Peak(t, func() error {
		d = diffCommits(t, g, "HEAD~1", "HEAD", DiffOptions{})
		return nil
	})
	t.Logf("diff of a packed repository: heap peak %d MB", peak>>20)
	if peak > 100<<20 {
		t.Errorf("diff: heap peaked at %d MB", peak>>20)
	}
	e := d.Experiments[0]
	if e.Dataset == nil || len(e.Dataset.Edited) != n/1000 || len(e.Dataset.Added) != 10 || e.Dataset.CasesA != n || e.Dataset.CasesB != n+10 {
		t.Errorf("dataset diff %+v", e.Dataset)
	}
	if e.Pairs != n || !e.Regressed || e.Cases.Counts.Fixed != n/60 {
		t.Errorf("pairs %d, counts %+v", e.Pairs, e.Cases.Counts)
	}
	var stale []string
	for _, c := range d.Caveats {
		if c.Kind == CaveatStaleResults {
			stale = append(stale, c.Message)
		}
	}
	if len(stale) != 1 || !strings.HasPrefix(stale[0], "evals/results/big/summary.json at HEAD was written for another version of the dataset ("+dsID) {
		t.Errorf("stale caveats %q: want one for HEAD's dataset; warnings %q %q", stale, d.Warnings, e.Warnings)
	}
}

// setSummaryDatasetID records dataset ID id in the summary at path.
func setSummaryDatasetID(t *testing.T, path, id string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	m["dataset_id"] = id
	if data, err = json.MarshalIndent(m, "", "  "); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}
