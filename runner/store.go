package runner

import (
	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/runstore"
)

// StoredIteration is an iteration read back from a run directory.
type StoredIteration struct {
	*repo.IterationSummary
	RunDir   string
	Manifest repo.RunManifest
}

// FindIteration finds an iteration by ID (itr_…) in the newest run that has
// it, with its per-case outcomes loaded for paired comparison.
func FindIteration(evalsDir, id string) (*StoredIteration, error) {
	runs, err := runstore.Open(evalsDir).Runs("")
	if err != nil {
		return nil, err
	}
	for _, run := range runs {
		its, err := run.Iterations()
		if err != nil {
			continue
		}
		for _, it := range its {
			if it.ID != id {
				continue
			}
			man, err := run.Manifest()
			if err != nil {
				return nil, err
			}
			agg := NewAggregator(man.Repetitions)
			err = run.Results(func(r *repo.Result) error {
				if r.Iteration == it.Index {
					agg.Add(r)
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
			it.Pairs = agg.Pairs()
			return &StoredIteration{IterationSummary: it, RunDir: run.Path(), Manifest: *man}, nil
		}
	}
	return nil, repo.Userf("iteration %s not found in %s", id, repo.Dir(evalsDir).AllRuns())
}

// CostPerCall is the mean agent cost per call of the newest run of an
// experiment that reported any cost, with the run directory it came from.
func CostPerCall(evalsDir, slug string) (float64, string, bool) {
	runs, _ := runstore.Open(evalsDir).Runs(slug)
	for _, run := range runs {
		var total float64
		n := 0
		run.Results(func(r *repo.Result) error {
			total += r.CostUSD
			n++
			return nil
		})
		if n > 0 && total > 0 {
			return total / float64(n), run.Path(), true
		}
	}
	return 0, "", false
}

// JudgeCostPerCall is the mean cost of one call of the judge grader, over
// the grades of the newest run of the experiment that recorded its cost,
// with that run's directory.
func JudgeCostPerCall(evalsDir, slug, grader string) (float64, string, bool) {
	runs, _ := runstore.Open(evalsDir).Runs(slug)
	for _, run := range runs {
		var total float64
		n := 0
		run.Results(func(r *repo.Result) error {
			for _, g := range r.Grades {
				if c, ok := g.Details["cost_usd"].(float64); ok && g.Grader == grader {
					total += c
					n++
				}
			}
			return nil
		})
		if n > 0 {
			return total / float64(n), run.Path(), true
		}
	}
	return 0, "", false
}
