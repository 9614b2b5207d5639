package repo

import (
	"errors"
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// revisionFS is a tree in memory that names its revision, as a git
// commit's does.
type revisionFS struct {
	fstest.MapFS
	rev string
}

func (r revisionFS) Revision() string { return r.rev }

func memFS(files map[string]string) fstest.MapFS {
	m := fstest.MapFS{}
	for p, s := range files {
		m[p] = &fstest.MapFile{Data: []byte(s)}
	}
	return m
}

// The working tree through os.DirFS loads as it does through the OS paths:
// the same spec, dataset and IDs.
func TestLoadExperimentFSMatchesTheWorkingTree(t *testing.T) {
	root := "testdata/reference"
	onDisk, err := LoadExperiment(root+"/evals/experiments/example_pingpong.yaml", LoadOptions{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	inFS, err := LoadExperimentFS(os.DirFS(root), "evals/experiments/example_pingpong.yaml", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if inFS.ID != onDisk.ID || inFS.Dataset.ID != onDisk.Dataset.ID || inFS.Dataset.Count != onDisk.Dataset.Count || inFS.Slug != onDisk.Slug {
		t.Errorf("in an fs.FS: %s %s %d %s; on disk: %s %s %d %s", inFS.ID, inFS.Dataset.ID, inFS.Dataset.Count, inFS.Slug,
			onDisk.ID, onDisk.Dataset.ID, onDisk.Dataset.Count, onDisk.Slug)
	}
	if inFS.Path != "evals/experiments/example_pingpong.yaml" || inFS.Root != "." {
		t.Errorf("Path, Root = %q, %q", inFS.Path, inFS.Root)
	}
	a, _ := onDisk.Dataset.Cases()
	b, _ := inFS.Dataset.Cases()
	if len(a) != len(b) || len(a) == 0 || a[0].ID != b[0].ID {
		t.Errorf("cases differ: %d on disk, %d in the fs.FS", len(a), len(b))
	}
}

// Problems in a revision's files name the revision, as git names a file
// at a revision (main:evals/…).
func TestLoadersNameTheRevision(t *testing.T) {
	tree := revisionFS{rev: "main", MapFS: memFS(map[string]string{
		"evals/experiments/x.yaml": strings.Replace(goodSpec, "goal: y", "goal: y\n  mode: sideways", 1),
		"evals/datasets/d.jsonl":   `{"input":{"text":"a"}}` + "\n" + `{"input":{"text":"b"},"expectd":{}}` + "\n",
		"evals/taxonomy.yaml":      "modes:\n  - {slug: Bad-Slug, title: t, definition: d}\n",
		"evals/selfevals.yaml":     "defaults: {parallelism: -1}\n",
		"evals/graders/judge.yaml": "name: judge\nstate: lost\n",
	})}
	_, err := LoadExperimentFS(tree, "evals/experiments/x.yaml", LoadOptions{})
	for _, want := range []string{`main:evals/experiments/x.yaml:4:3: experiment.mode: unknown value "sideways"`, "main:evals/datasets/d.jsonl:2:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("spec error lacks %q:\n%v", want, err)
		}
	}
	if _, err := LoadDatasetFS(tree, "evals/datasets/d.jsonl"); err == nil || !strings.HasPrefix(err.Error(), "main:evals/datasets/d.jsonl:2:") {
		t.Errorf("dataset error = %v", err)
	}
	if _, err := LoadTaxonomyFS(tree, "evals/taxonomy.yaml"); err == nil || !strings.HasPrefix(err.Error(), "main:evals/taxonomy.yaml:2:") {
		t.Errorf("taxonomy error = %v", err)
	}
	if _, err := LoadSettingsFS(tree, "evals"); err == nil || !strings.HasPrefix(err.Error(), "main:evals/selfevals.yaml:1:") {
		t.Errorf("settings error = %v", err)
	}
	if _, err := LoadGraderCardFS(tree, "evals/graders/judge.yaml"); err == nil || !strings.HasPrefix(err.Error(), "main:evals/graders/judge.yaml:2:") {
		t.Errorf("card error = %v", err)
	}
	_, err = LoadExperimentFS(tree, "evals/experiments/y.yaml", LoadOptions{})
	var ue *UserError
	if !errors.As(err, &ue) || ue.Msg != "experiment spec not found: main:evals/experiments/y.yaml" || ue.Hint != "did you mean main:evals/experiments/x.yaml?" {
		t.Errorf("missing spec: %#v", err)
	}
	// A missing settings file gives the defaults, as on disk.
	if s, err := LoadSettingsFS(tree, "elsewhere"); err != nil || s.Defaults.Parallelism != 0 {
		t.Errorf("missing settings = %+v, %v", s, err)
	}
}

// In an fs.FS the repository is the file system: a dataset, card or
// fingerprint outside it is refused, and a card must be in it.
func TestLoadExperimentFSStaysInside(t *testing.T) {
	spec := strings.Replace(goodSpec, "../datasets/d.jsonl", "../../../d.jsonl", 1) + `  fingerprint: [../agent.py, agents/ok.py]
graders:
  - {type: llm_judge, name: j, rubric: r, card: ../graders/missing.yaml, judge: {builtin: fake_judge}}
`
	tree := memFS(map[string]string{"evals/experiments/x.yaml": spec, "agents/ok.py": "print('ok')\n"})
	_, err := LoadExperimentFS(tree, "evals/experiments/x.yaml", LoadOptions{})
	for _, want := range []string{
		"evals/experiments/x.yaml:7:3: dataset.cases_path: ../../../d.jsonl is outside the repository (keep",
		"agent.fingerprint[0]: ../agent.py is outside the repository",
		"graders[0].card: grader card ../graders/missing.yaml not found",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if err != nil && strings.Contains(err.Error(), "agents/ok.py") {
		t.Errorf("a fingerprint inside the repository was refused:\n%v", err)
	}
}

// SpecOnly leaves the cases to ScanCases, which reads past bad ones.
func TestScanCasesGoesPastBadCases(t *testing.T) {
	tree := memFS(map[string]string{
		"evals/experiments/x.yaml": goodSpec,
		"evals/datasets/d.jsonl":   `{"input":{"text":"a"}}` + "\n// comment\n{broken\n\n" + `{"input":{"text":"a"}}` + "\n",
	})
	if _, err := LoadExperimentFS(tree, "evals/experiments/x.yaml", LoadOptions{}); err == nil {
		t.Fatal("the strict load accepted a broken dataset")
	}
	ls, err := LoadExperimentFS(tree, "evals/experiments/x.yaml", LoadOptions{SpecOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if ls.Dataset != nil || ls.CasesPath() != "evals/datasets/d.jsonl" {
		t.Errorf("SpecOnly: dataset %v, cases path %q", ls.Dataset, ls.CasesPath())
	}
	var lines []int
	var bad []string
	err = ls.ScanCases(func(c *Case, p Problems) {
		if len(p) > 0 {
			bad = append(bad, p.Error())
			return
		}
		lines = append(lines, c.Line)
	})
	if err != nil || !slices.Equal(lines, []int{1, 5}) || len(bad) != 1 || !strings.HasPrefix(bad[0], "evals/datasets/d.jsonl:3:") {
		t.Errorf("ScanCases: lines %v, problems %q, err %v", lines, bad, err)
	}

	inline := memFS(map[string]string{"evals/experiments/x.yaml": strings.Replace(goodSpec, "cases_path: ../datasets/d.jsonl",
		"cases_inline:\n    - {input: {text: a}}\n    - {input: {text: b}, expectd: {}}", 1)})
	ls, err = LoadExperimentFS(inline, "evals/experiments/x.yaml", LoadOptions{SpecOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	lines, bad = nil, nil
	if err := ls.ScanCases(func(c *Case, p Problems) {
		if len(p) > 0 {
			bad = append(bad, p.Error())
			return
		}
		lines = append(lines, c.Line)
	}); err != nil || !slices.Equal(lines, []int{8}) || len(bad) != 1 || !strings.Contains(bad[0], "dataset.cases_inline[1].expectd") {
		t.Errorf("inline ScanCases: lines %v, problems %q, err %v", lines, bad, err)
	}

	gone := memFS(map[string]string{"evals/experiments/x.yaml": goodSpec})
	ls, err = LoadExperimentFS(gone, "evals/experiments/x.yaml", LoadOptions{SpecOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var ue *UserError
	if err := ls.ScanCases(func(*Case, Problems) {}); !errors.As(err, &ue) || !strings.Contains(ue.Msg, "dataset evals/datasets/d.jsonl not found") {
		t.Errorf("missing dataset: %v", err)
	}
}

// AsWritten is the spec without the defaults the loader fills in.
func TestAsWrittenHasNoDefaults(t *testing.T) {
	dir, spec := specDir(t, goodSpec, `{"input":{"text":"a"}}`+"\n")
	_ = dir
	ls, err := LoadExperiment(spec, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ls.Spec.Experiment.Run.Timeout == 0 || ls.AsWritten.Experiment.Run.Timeout != 0 || ls.AsWritten.Experiment.Name != "x" {
		t.Errorf("Spec timeout %v, AsWritten timeout %v, name %q", ls.Spec.Experiment.Run.Timeout, ls.AsWritten.Experiment.Run.Timeout, ls.AsWritten.Experiment.Name)
	}
}

func TestLoadCommittedResultsFS(t *testing.T) {
	tree := revisionFS{rev: "HEAD~1", MapFS: memFS(map[string]string{
		"evals/results/x/summary.json": "{\n  \"cases\": 3,\n  \"primary\": \"high\"\n}\n",
		"evals/results/x/cases.jsonl":  `{"case_id":"case_a","label":"pass"}` + "\n{\n",
		"evals/results/y/summary.json": `{"cases": 2, "target": {"name": "pass@1"}}`,
	})}
	if s, err := LoadSummaryFS(tree, "evals/results/y/summary.json"); err != nil || s.Cases != 2 || s.Target.Name != "pass@1" {
		t.Errorf("summary = %+v, %v", s, err)
	}
	_, err := LoadSummaryFS(tree, "evals/results/x/summary.json")
	var p Problem
	if !errors.As(err, &p) || p.File != "HEAD~1:evals/results/x/summary.json" || p.Line != 3 {
		t.Errorf("bad summary: %#v", err)
	}
	if _, err := LoadSummaryFS(tree, "evals/results/z/summary.json"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing summary: %v", err)
	}
	vs, err := LoadCaseVerdictsFS(tree, "evals/results/x/cases.jsonl")
	if len(vs) != 1 || err == nil || err.Error() != "HEAD~1:evals/results/x/cases.jsonl:2: line 2 is not a case verdict" {
		t.Errorf("verdicts = %v, %v", vs, err)
	}
	if _, err := LoadCaseVerdictsFS(tree, "evals/results/z/cases.jsonl"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing verdicts: %v", err)
	}
}
