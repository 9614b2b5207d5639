// Package check verifies the invariants of an evals/ directory, as git
// fsck or restic check do for theirs: run records complete and readable,
// committed results whole and matching their spec and dataset, selfevals'
// refs valid, no candidates orphaned. Every finding says how to repair it.
package check

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/gitstore"
	"github.com/selfevals/selfevals/repo/runstore"
	"github.com/selfevals/selfevals/repo/runstore/tracefile"
)

// Severity of a finding: an error is damage; a warning is something left
// unfinished or out of date that a command takes care of.
type Severity string

const (
	Error   Severity = "error"
	Warning Severity = "warning"
)

// Finding is one broken invariant.
type Finding struct {
	Severity Severity `json:"severity"`
	Where    string   `json:"where"` // a path under the repository, or a ref
	Problem  string   `json:"problem"`
	Repair   string   `json:"repair"`
}

// Report is what Run found and how much it looked at.
type Report struct {
	Findings []Finding `json:"findings"`
	Runs     int       `json:"runs"`
	Results  int       `json:"results"`
	Refs     bool      `json:"refs_checked"` // false outside a git repository
}

// Errors counts the findings of severity Error.
func (r *Report) Errors() int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == Error {
			n++
		}
	}
	return n
}

// Run checks the evals/ directory at evalsDir.
func Run(evalsDir string) (*Report, error) {
	abs, err := filepath.Abs(evalsDir)
	if err != nil {
		return nil, err
	}
	c := &checker{dir: repo.Dir(abs), store: runstore.Open(abs), root: filepath.Dir(abs), rep: &Report{Findings: []Finding{}}}
	if err := c.runs(); err != nil {
		return nil, err
	}
	if err := c.results(); err != nil {
		return nil, err
	}
	if err := c.refs(); err != nil {
		return nil, err
	}
	sort.SliceStable(c.rep.Findings, func(i, j int) bool {
		a, b := c.rep.Findings[i], c.rep.Findings[j]
		if a.Severity != b.Severity {
			return a.Severity == Error
		}
		return a.Where < b.Where
	})
	return c.rep, nil
}

type checker struct {
	dir   repo.Dir
	store runstore.Store
	root  string // the repository root: evals/'s parent
	rep   *Report
}

func (c *checker) add(sev Severity, where, problem, repair string) {
	c.rep.Findings = append(c.rep.Findings, Finding{Severity: sev, Where: c.rel(where), Problem: problem, Repair: repair})
}

// specOf is the spec file of slug, relative to the repository, or "".
func (c *checker) specOf(slug string) string {
	for _, p := range c.dir.SpecCandidates(slug) {
		if _, err := os.Stat(p); err == nil {
			return c.rel(p)
		}
	}
	return ""
}

// runs checks every run directory under runs/.
func (c *checker) runs() error {
	dirs, err := filepath.Glob(filepath.Join(c.dir.AllRuns(), "*", "run_*"))
	if err != nil {
		return err
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			continue
		}
		c.rep.Runs++
		c.run(runstore.At(d), filepath.Base(filepath.Dir(d)))
	}
	return nil
}

func (c *checker) run(r runstore.Run, slug string) {
	dir := r.Path()
	man, err := r.Manifest()
	if errors.Is(err, fs.ErrNotExist) {
		c.add(Warning, dir, "a run killed before it began: it has no run.json",
			fmt.Sprintf("nothing in it can be resumed; remove it: `rm -r %s`", c.rel(dir)))
		return
	}
	if err != nil {
		c.add(Error, filepath.Join(dir, repo.ManifestName), "unreadable: "+err.Error(),
			fmt.Sprintf("the run can be neither shown nor resumed; remove it: `rm -r %s`", c.rel(dir)))
		return
	}
	spec := c.specOf(slug)
	resume := "its spec is gone: remove the run (`rm -r " + c.rel(dir) + "`)"
	if spec != "" {
		resume = fmt.Sprintf("finish it with `selfevals run %s --resume`, or remove it (`rm -r %s`)", spec, c.rel(dir))
	}
	running := c.store.Running(slug, man.RunID)
	switch {
	case man.State == repo.RunRunning && !running:
		c.add(Warning, dir, "the run was killed (run.json says running, but no process holds the experiment's lock)", resume)
	case man.State == repo.RunInterrupted || man.State == repo.RunFailed:
		c.add(Warning, dir, fmt.Sprintf("the run did not finish (%s)", man.State), resume)
	}
	rr := runstore.ResultsReader{Path: r.Dir().Results()}
	if err := rr.Each(func(*repo.Result) error { return nil }); err != nil && !errors.Is(err, fs.ErrNotExist) {
		c.add(Error, r.Dir().Results(), "damaged: "+err.Error(),
			"the lines before the damage stay readable; rerun the experiment for a whole record")
	}
	if r.HasTraces() && !running {
		if err := tracefile.ReadRows(r.Dir().Traces(), func(runstore.TraceRow) error { return nil }); err != nil {
			c.add(Error, r.Dir().Traces(), strings.TrimPrefix(err.Error(), r.Dir().Traces()+": "),
				fmt.Sprintf("results.jsonl holds the same spans: remove the damaged copy (`rm %s`)", c.rel(r.Dir().Traces())))
		}
	}
	c.leftovers(dir)
}

// leftovers reports the temporary files an interrupted atomic write left.
func (c *checker) leftovers(dir string) {
	tmps, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*"))
	for _, t := range tmps {
		c.add(Warning, t, "a temporary file left by a write that was interrupted", fmt.Sprintf("remove it: `rm %s`", c.rel(t)))
	}
}

func (c *checker) rel(p string) string {
	if rel, err := filepath.Rel(c.root, p); err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(rel)
	}
	return p
}

// results checks every committed result under results/.
func (c *checker) results() error {
	entries, err := os.ReadDir(c.dir.AllResults())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	settings, err := repo.LoadSettings(c.dir.Path())
	if err != nil {
		settings = repo.Settings{}
	}
	for _, e := range entries {
		if e.IsDir() {
			c.rep.Results++
			c.result(e.Name(), settings)
		}
	}
	return nil
}

func (c *checker) result(slug string, settings repo.Settings) {
	dir := c.dir.Results(slug)
	spec := c.specOf(slug)
	rerun := "rerun the experiment (`selfevals run " + spec + "`) and commit evals/results/" + slug
	sum, err := c.store.Summary(slug)
	if err != nil {
		c.add(Error, c.dir.Summary(slug), "unreadable: "+err.Error(), rerun)
		return
	}
	f, err := os.Open(c.dir.CaseVerdicts(slug))
	if err != nil {
		c.add(Error, c.dir.CaseVerdicts(slug), "unreadable: "+err.Error(), rerun)
		return
	}
	verdicts, err := repo.ReadCaseVerdicts(f, c.dir.CaseVerdicts(slug))
	f.Close()
	if err != nil {
		c.add(Error, c.dir.CaseVerdicts(slug), "damaged: "+err.Error(), rerun)
		return
	}
	if len(verdicts) != sum.Cases {
		c.add(Error, dir, fmt.Sprintf("summary.json says %d cases but cases.jsonl has %d: the two were not written together", sum.Cases, len(verdicts)), rerun)
	}
	if spec == "" {
		c.add(Warning, dir, fmt.Sprintf("no spec evals/experiments/%s.yaml for these results", slug),
			fmt.Sprintf("restore the spec, or remove the results (`git rm -r %s`)", c.rel(dir)))
		return
	}
	ls, err := repo.LoadExperiment(filepath.Join(c.root, spec), repo.LoadOptions{Root: c.root, Settings: settings})
	if err != nil {
		return // validate's business: the spec's own problems are not the record's
	}
	if why := repo.StaleResultsOf(sum, ls); why != "" {
		c.add(Warning, dir, c.rel(c.dir.Summary(slug))+" "+why, rerun)
	}
}

// refs checks selfevals' refs and looks for candidates whose spec is gone.
func (c *checker) refs() error {
	g, err := gitstore.Open(c.root)
	if errors.Is(err, gitstore.ErrNotRepository) {
		return nil
	}
	if err != nil {
		c.add(Error, c.root, "the git repository cannot be opened: "+err.Error(), "see `git fsck`")
		return nil
	}
	c.rep.Refs = true
	found, err := g.CheckRefs()
	if err != nil {
		return err
	}
	for _, f := range found {
		c.rep.Findings = append(c.rep.Findings, Finding{Severity: Error, Where: f.Ref, Problem: f.Problem, Repair: f.Repair})
	}
	slugs, err := g.CandidateSlugs()
	if err != nil {
		return nil // a torn ref: already reported by CheckRefs
	}
	for _, slug := range slugs {
		if c.specOf(slug) == "" {
			c.add(Warning, "refs/heads/selfevals/"+slug, fmt.Sprintf("candidates of experiment %s, whose spec is gone", slug),
				fmt.Sprintf("if you no longer need them: `git branch -D selfevals/%s` and `git for-each-ref --format='delete %%(refname)' %s%s/ | git update-ref --stdin`",
					slug, gitstore.CandidateRefPrefix, slug))
		}
	}
	return nil
}
