package runner

import (
	"path/filepath"

	"github.com/selfevals/selfevals/repo"
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
	dirs, err := repo.RunDirs(evalsDir, "")
	if err != nil {
		return nil, err
	}
	for _, dir := range dirs {
		its, err := ReadIterations(dir)
		if err != nil {
			continue
		}
		for _, it := range its {
			if it.ID != id {
				continue
			}
			man, err := repo.ReadManifest(dir)
			if err != nil {
				return nil, err
			}
			agg := NewAggregator(man.Repetitions)
			err = ReadResults(filepath.Join(dir, "results.jsonl"), func(r *repo.Result) error {
				if r.Iteration == it.Index {
					agg.Add(r)
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
			it.Pairs = agg.Pairs()
			return &StoredIteration{IterationSummary: it, RunDir: dir, Manifest: *man}, nil
		}
	}
	return nil, repo.Userf("iteration %s not found in %s", id, filepath.Join(evalsDir, "runs"))
}

// CostPerCall is the mean agent cost per call of the newest run of an
// experiment that reported any cost, with the run directory it came from.
func CostPerCall(evalsDir, slug string) (float64, string, bool) {
	dirs, _ := repo.RunDirs(evalsDir, slug)
	for _, dir := range dirs {
		var total float64
		n := 0
		ReadResults(filepath.Join(dir, "results.jsonl"), func(r *repo.Result) error {
			total += r.CostUSD
			n++
			return nil
		})
		if n > 0 && total > 0 {
			return total / float64(n), dir, true
		}
	}
	return 0, "", false
}
