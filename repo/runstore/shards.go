package runstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/selfevals/selfevals/repo"
)

// Shards are the run directories of one run split n ways (run --shard
// i/n), checked to belong together: one of each shard 1..n, all of the
// same experiment, dataset, agent and settings, all completed.
type Shards struct {
	// Runs, Manifests and Iterations are by shard: index i-1 is shard i.
	Runs       []Run
	Manifests  []*repo.RunManifest
	Iterations [][]*repo.IterationSummary
}

// First is shard 1's manifest: what the shards agree on.
func (s *Shards) First() *repo.RunManifest { return s.Manifests[0] }

// RunIDs are the shards' run IDs, shard 1 first.
func (s *Shards) RunIDs() []string {
	ids := make([]string, len(s.Manifests))
	for i, m := range s.Manifests {
		ids[i] = m.RunID
	}
	return ids
}

// FindShardRuns returns the shard run directories named by paths: each
// is a run directory (it holds run.json) or a directory searched for shard
// runs at any depth, such as a folder of downloaded CI artifacts or
// evals/runs/<slug>, where runs made without --shard are passed over.
func FindShardRuns(paths []string) ([]Run, error) {
	var runs []Run
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, repo.Userf("%s: %v", p, errors.Unwrap(err))
		}
		if !st.IsDir() {
			return nil, repo.Userf("%s is not a directory: give run directories (evals/runs/<slug>/<run-id>) or folders that hold them", p)
		}
		if _, err := os.Stat(filepath.Join(p, repo.ManifestName)); err == nil {
			runs = append(runs, At(p)) // named: LoadShards says if it is no shard
			continue
		}
		found, unsharded := 0, 0
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Name() != repo.ManifestName {
				return err
			}
			r := At(filepath.Dir(path))
			if m, err := r.Manifest(); err == nil && m.Shard == nil {
				unsharded++
				return nil
			}
			runs = append(runs, r)
			found++
			return nil
		})
		if err != nil {
			return nil, err
		}
		if found == 0 {
			return nil, &repo.UserError{
				Msg:  fmt.Sprintf("%s holds no shard's run directory (%d run(s) in it ran without --shard)", p, unsharded),
				Hint: "merge combines the run directories of `selfevals run SPEC --shard i/n`, one per shard",
			}
		}
	}
	return runs, nil
}

// LoadShards reads the manifests and iterations of runs and checks that
// they are the complete set of shards of one run.
func LoadShards(runs []Run) (*Shards, error) {
	if len(runs) == 0 {
		return nil, repo.Userf("no run directories to merge")
	}
	type shardRun struct {
		run Run
		man *repo.RunManifest
	}
	var all []shardRun
	for _, r := range runs {
		m, err := r.Manifest()
		if err != nil {
			return nil, repo.Userf("%s: %v", r.Dir().Manifest(), err)
		}
		if m.Shard == nil {
			return nil, &repo.UserError{
				Msg:  fmt.Sprintf("%s: run %s is not a shard (it ran without --shard)", r.Path(), m.RunID),
				Hint: "merge combines the run directories of `selfevals run SPEC --shard i/n`, one per shard",
			}
		}
		all = append(all, shardRun{r, m})
	}
	first := all[0].man
	for _, sr := range all[1:] {
		if err := sameRun(first, all[0].run, sr.man, sr.run); err != nil {
			return nil, err
		}
	}
	n := first.Shard.Count
	s := &Shards{Runs: make([]Run, n), Manifests: make([]*repo.RunManifest, n), Iterations: make([][]*repo.IterationSummary, n)}
	for _, sr := range all {
		i := sr.man.Shard.Index - 1
		if s.Manifests[i] != nil {
			return nil, repo.Userf("shard %s is given twice: %s and %s", sr.man.Shard, s.Runs[i].Path(), sr.run.Path())
		}
		s.Runs[i], s.Manifests[i] = sr.run, sr.man
	}
	var missing []string
	for i, m := range s.Manifests {
		if m == nil {
			missing = append(missing, fmt.Sprintf("%d/%d", i+1, n))
		}
	}
	if len(missing) > 0 {
		return nil, &repo.UserError{
			Msg:  fmt.Sprintf("missing shard(s) %s of %s (%d of %d given)", strings.Join(missing, ", "), first.Experiment, n-len(missing), n),
			Hint: fmt.Sprintf("run them with `selfevals run %s --shard i/%d` and give every shard's run directory", first.Spec, n),
		}
	}
	for i, m := range s.Manifests {
		if m.State != repo.RunCompleted {
			return nil, &repo.UserError{
				Msg:  fmt.Sprintf("shard %s (%s) is %s, not completed: %s", m.Shard, s.Runs[i].Path(), m.State, m.Terminated),
				Hint: fmt.Sprintf("finish it with `selfevals run %s --shard %s --resume` in the checkout it ran in", m.Spec, m.Shard),
			}
		}
		its, err := s.Runs[i].Iterations()
		if err != nil {
			return nil, fmt.Errorf("shard %s: %w", m.Shard, err)
		}
		s.Iterations[i] = its
	}
	return s, s.sameIterations()
}

// sameRun says how shard b differs from shard a, when it does in anything
// that makes them parts of different runs.
func sameRun(a *repo.RunManifest, ra Run, b *repo.RunManifest, rb Run) error {
	for _, f := range []struct{ what, x, y string }{
		{"experiment", a.Experiment, b.Experiment},
		{"dataset", a.DatasetID, b.DatasetID},
		{"agent fingerprint", a.AgentFingerprint, b.AgentFingerprint},
		{"spec (experiment ID)", a.ExperimentID, b.ExperimentID},
		{"shard count", fmt.Sprint(a.Shard.Count), fmt.Sprint(b.Shard.Count)},
		{"repetitions per case", fmt.Sprint(a.Repetitions), fmt.Sprint(b.Repetitions)},
		{"max iterations", fmt.Sprint(a.MaxIterations), fmt.Sprint(b.MaxIterations)},
		{"commit", a.GitCommit, b.GitCommit},
	} {
		if f.x != f.y {
			return &repo.UserError{
				Msg: fmt.Sprintf("the shards are not of one run: their %s differs: %s in %s (shard %s), %s in %s (shard %s)",
					f.what, orNone(f.x), ra.Path(), a.Shard, orNone(f.y), rb.Path(), b.Shard),
				Hint: "run every shard from the same commit, spec, dataset and agent, with the same --reps and --max-iterations",
			}
		}
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// sameIterations checks that every shard ran the same proposals in the
// same order (non-adaptive proposers make the same ones everywhere).
func (s *Shards) sameIterations() error {
	ref := s.Iterations[0]
	for i, its := range s.Iterations[1:] {
		m := s.Manifests[i+1]
		if len(its) != len(ref) {
			return repo.Userf("shard %s ran %d iteration(s), shard %s %d: the shards are not of one run", m.Shard, len(its), s.First().Shard, len(ref))
		}
		for k, it := range its {
			if it.Index != ref[k].Index || it.ParamsID != ref[k].ParamsID {
				return repo.Userf("iteration %d of shard %s tried parameters %s, shard %s's tried %s: the shards are not of one run", it.Index, m.Shard, it.ParamsID, s.First().Shard, ref[k].ParamsID)
			}
		}
	}
	return nil
}
