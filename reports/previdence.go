package reports

import (
	"cmp"
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/runstore"
)

// PREvidence is what a pull-request comment adds to a diff from outside the
// two trees: the run records of the job that just ran (the agent's answers,
// the selfevals version and time of each side's results) and a link to the
// job.
type PREvidence struct {
	// JobURL links the job's full report, when GitHub Actions says where
	// it is.
	JobURL      string
	Experiments map[string]*ExperimentEvidence
}

// ExperimentEvidence is one experiment's provenance, guardrails and
// regressed cases as the run record has them.
type ExperimentEvidence struct {
	A, B       Provenance
	Guardrails []GuardrailStatus
	// Cases are the regressed cases' answers at B, by case ID.
	Cases map[string]*CaseEvidence
}

// Provenance is where one side's results came from.
type Provenance struct {
	// Commit is the commit the results were committed at (a git side), or
	// the commit the run started from (the working tree); Dirty when the
	// working tree differed from it.
	Commit      string
	Dirty       bool
	WorkingTree bool
	Fingerprint string
	// ToolVersion and RunID are the run record's; empty when no record of
	// the run that made the results is at hand.
	ToolVersion string
	RunID       string
	// When is the run's start, else the commit's time.
	When      time.Time
	Committed bool // When is the commit's time, not the run's
}

// GuardrailStatus is one guardrail of the spec at A and B.
type GuardrailStatus struct {
	Target     repo.MetricTarget
	A, B       *float64
	MetA, MetB *bool
}

// Violated reports whether B breaks the guardrail.
func (g GuardrailStatus) Violated() bool { return g.MetB != nil && !*g.MetB }

// CaseEvidence is one regressed case at B: what the agent answered (the
// first repetition that did not pass), which grader failed it, and a shell
// line that sends the agent the same request again.
type CaseEvidence struct {
	Answer string
	// ErrorKind is set when the call failed; Answer is then the error.
	ErrorKind string
	Grader    string
	Reason    string
	// Rerun is one command line; RerunNote says what it reproduces.
	Rerun     string
	RerunNote string
	rep       int
}

// PREvidenceOptions say where the evidence is.
type PREvidenceOptions struct {
	// EvalsDir is the evals/ directory on disk, whose runs/ holds the run
	// records; EvalsRel is its path inside the repository (the trees').
	EvalsDir, EvalsRel string
	// Getenv reads GITHUB_SERVER_URL, GITHUB_REPOSITORY, GITHUB_RUN_ID and
	// GITHUB_RUN_ATTEMPT for the job's link.
	Getenv func(string) string
	// Head is the commit the working tree is on: its provenance when the
	// run record names no commit. Whether the tree differed from it when
	// the run started is then unknown (by now the run's own results
	// differ), so it is not said.
	Head string
}

// GatherPREvidence reads, for each experiment of d, the summaries and
// specs at A and B and the newest run record that made each side's
// results. Nothing here is required: what cannot be read is left out of
// the comment.
func GatherPREvidence(d *DiffReport, opts PREvidenceOptions) *PREvidence {
	ev := &PREvidence{Experiments: map[string]*ExperimentEvidence{}, JobURL: jobURL(opts.Getenv)}
	evals := repo.Dir(strings.Trim(filepath.ToSlash(cmp.Or(opts.EvalsRel, "evals")), "/"))
	store := runstore.Open(opts.EvalsDir)
	for _, e := range d.Experiments {
		sa, _ := repo.LoadSummaryFS(d.A.Tree, evals.Summary(e.Slug))
		sb, _ := repo.LoadSummaryFS(d.B.Tree, evals.Summary(e.Slug))
		x := &ExperimentEvidence{Cases: map[string]*CaseEvidence{}}
		runA := matchRun(store, e.Slug, d.A, sa)
		runB := matchRun(store, e.Slug, d.B, sb)
		x.A = provenance(d.A, evals.Summary(e.Slug), sa, runA)
		x.B = provenance(d.B, evals.Summary(e.Slug), sb, runB)
		for _, p := range []*Provenance{&x.A, &x.B} {
			if p.WorkingTree && p.Commit == "" {
				p.Commit = opts.Head
			}
		}
		x.Guardrails = guardrails(d, evals, e.Slug, sa, sb)
		if runB != nil && len(e.Cases.Regressed) > 0 {
			x.Cases = regressedAnswers(runB, e.Cases.Regressed)
		}
		ev.Experiments[e.Slug] = x
	}
	return ev
}

// jobURL is the link to the job's run, when GitHub Actions set the
// variables that make it.
func jobURL(getenv func(string) string) string {
	if getenv == nil {
		return ""
	}
	server, repoName, id := getenv("GITHUB_SERVER_URL"), getenv("GITHUB_REPOSITORY"), getenv("GITHUB_RUN_ID")
	if server == "" || repoName == "" || id == "" {
		return ""
	}
	u := strings.TrimRight(server, "/") + "/" + repoName + "/actions/runs/" + id
	if a := getenv("GITHUB_RUN_ATTEMPT"); a != "" && a != "1" {
		u += "/attempts/" + a
	}
	return u
}

// matchedRun is a run record that made a side's results.
type matchedRun struct {
	run runstore.Run
	man *repo.RunManifest
}

// matchRun finds the newest run of slug that made the side's committed
// result: same agent fingerprint and dataset, started from the side's
// commit (any commit, for the working tree).
func matchRun(store runstore.Store, slug string, rev Revision, sum *repo.ResultsSummary) *matchedRun {
	if sum == nil {
		return nil
	}
	runs, err := store.Runs(slug)
	if err != nil {
		return nil
	}
	for _, r := range runs {
		m, err := r.Manifest()
		if err != nil || m.AgentFingerprint != sum.AgentFingerprint || m.DatasetID != sum.DatasetID {
			continue
		}
		if rev.Commit != "" && (m.GitCommit != rev.Commit || m.GitDirty) {
			continue
		}
		if m.State != repo.RunCompleted && m.State != repo.RunInterrupted {
			continue
		}
		return &matchedRun{r, m}
	}
	return nil
}

func provenance(rev Revision, summaryPath string, sum *repo.ResultsSummary, run *matchedRun) Provenance {
	p := Provenance{Commit: rev.Commit, WorkingTree: rev.Commit == ""}
	if sum != nil {
		p.Fingerprint = sum.AgentFingerprint
	}
	if run != nil {
		p.ToolVersion, p.RunID = run.man.ToolVersion, run.man.RunID
		p.When, _ = time.Parse(time.RFC3339Nano, run.man.StartedAt)
		if p.WorkingTree {
			p.Commit, p.Dirty = run.man.GitCommit, run.man.GitDirty
		}
		return p
	}
	// No record of the run: a commit's files carry the commit's time.
	if !p.WorkingTree {
		if fi, err := fs.Stat(rev.Tree, summaryPath); err == nil {
			p.When, p.Committed = fi.ModTime(), true
		}
	}
	return p
}

// guardrails are the spec's guardrails (B's, else A's) on each side's
// committed metrics.
func guardrails(d *DiffReport, evals repo.Dir, slug string, sa, sb *repo.ResultsSummary) []GuardrailStatus {
	var targets []repo.MetricTarget
	for _, rev := range []Revision{d.B, d.A} {
		if targets = specGuardrails(rev, evals, slug); targets != nil {
			break
		}
	}
	out := make([]GuardrailStatus, 0, len(targets))
	for _, t := range targets {
		g := GuardrailStatus{Target: t}
		g.A, g.MetA = measured(t, sa)
		g.B, g.MetB = measured(t, sb)
		out = append(out, g)
	}
	return out
}

func specGuardrails(rev Revision, evals repo.Dir, slug string) []repo.MetricTarget {
	settings, _ := repo.LoadSettingsFS(rev.Tree, evals.Path())
	for _, p := range evals.SpecCandidates(slug) {
		ls, err := repo.LoadExperimentFS(rev.Tree, p, repo.LoadOptions{Settings: settings, SpecOnly: true})
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil
		}
		return ls.Spec.Experiment.Target.Guardrails
	}
	return nil
}

func measured(t repo.MetricTarget, sum *repo.ResultsSummary) (*float64, *bool) {
	if sum == nil {
		return nil, nil
	}
	m, ok := sum.Metrics[t.Name]
	if !ok {
		return nil, nil
	}
	v, met := m.Value, t.Met(m.Value)
	return &v, &met
}

// regressedAnswers reads the run's iteration 0 (the adopted configuration,
// whose verdicts are the committed result) for the regressed cases: the
// first repetition that did not pass, and the request that produced it.
func regressedAnswers(run *matchedRun, regressed []CaseChange) map[string]*CaseEvidence {
	want := map[string]bool{}
	for _, c := range regressed {
		want[c.ID] = true
	}
	out := map[string]*CaseEvidence{}
	_ = run.run.Results(func(r *repo.Result) error {
		if r.Iteration != 0 || !want[r.CaseID] {
			return nil
		}
		if prev, ok := out[r.CaseID]; ok && (prev.failed() || r.Label == repo.Pass) {
			return nil
		}
		out[r.CaseID] = caseEvidence(r)
		return nil
	})
	if len(out) > 0 {
		addReruns(run, out)
	}
	return out
}

func (c *CaseEvidence) failed() bool { return c.Grader != "" || c.ErrorKind != "" }

func caseEvidence(r *repo.Result) *CaseEvidence {
	c := &CaseEvidence{Answer: r.Output, rep: r.Repetition}
	if r.Output == "" && len(r.StructuredOutput) > 0 {
		c.Answer = string(r.StructuredOutput)
	}
	if r.Error != "" {
		c.Answer, c.ErrorKind = r.Error, cmp.Or(r.ErrorKind, "error")
	}
	for _, g := range r.Grades {
		if g.Label != repo.Pass && g.Label != repo.Skipped {
			c.Grader, c.Reason = g.Grader, g.Reason
			break
		}
	}
	return c
}

// sortedRegressions orders regressed cases biggest drop first: pass rate,
// then score, then ID.
func sortedRegressions(cs []CaseChange) []CaseChange {
	out := slices.Clone(cs)
	drop := func(c CaseChange, f func(*repo.CaseVerdict) float64) float64 {
		if c.A == nil || c.B == nil {
			return 0
		}
		return f(c.A) - f(c.B)
	}
	slices.SortStableFunc(out, func(x, y CaseChange) int {
		passRate := func(v *repo.CaseVerdict) float64 { return v.PassRate }
		score := func(v *repo.CaseVerdict) float64 { return v.Score }
		return cmp.Or(
			cmp.Compare(drop(y, passRate), drop(x, passRate)),
			cmp.Compare(drop(y, score), drop(x, score)),
			strings.Compare(x.ID, y.ID))
	})
	return out
}
