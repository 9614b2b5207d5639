package runner

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/runstore"
)

// OpenMerge assembles the merge of a sharded run (selfevals merge): the
// loop of one unsharded run of ls, whose calls are the shards' results
// replayed instead of agent calls. It decides every iteration, applies
// convergence and max_iterations, writes the record, evals/results and
// candidate commits as that run would; opts.Adapter, NoCache, Resume,
// Fingerprint and Shard do not apply.
func OpenMerge(ls *repo.LoadedSpec, shards *runstore.Shards, opts OpenOptions) (_ *Session, err error) {
	first := shards.First()
	if ls.ID != first.ExperimentID {
		return nil, &repo.UserError{
			Msg:  fmt.Sprintf("%s changed since the shards ran: it is %s, the shards ran %s", ls.Path, ls.ID, first.ExperimentID),
			Hint: fmt.Sprintf("merge in a checkout of the commit the shards ran (%.12s)", first.GitCommit),
		}
	}
	if ls.Dataset.ID != first.DatasetID {
		return nil, &repo.UserError{
			Msg:  fmt.Sprintf("the dataset %s changed since the shards ran: it is %s, the shards ran %s", ls.Dataset.Path, ls.Dataset.ID, first.DatasetID),
			Hint: fmt.Sprintf("merge in a checkout of the commit the shards ran (%.12s)", first.GitCommit),
		}
	}
	if err := repo.Dir(opts.EvalsDir).CheckSlugUnique(ls.Path, ls.Slug); err != nil {
		return nil, err
	}
	// The run settings are the shards': flags such as --reps changed them
	// from the spec's.
	ls.Spec.Experiment.Run.Override(first.Repetitions, first.MaxIterations, 0)
	s := &Session{Spec: ls, Fingerprint: first.AgentFingerprint, report: opts.Report}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	s.Record, err = StartRecord(opts.EvalsDir, ls, s.Fingerprint, RecordOptions{
		ToolVersion: opts.ToolVersion, NoCommit: opts.NoCommit, CandidateBranch: opts.CandidateBranch,
		NoPersist: opts.NoPersist,
		Merge:     &MergeSource{Shards: shards.RunIDs(), GitCommit: first.GitCommit, GitDirty: anyDirty(shards)},
	})
	if err != nil {
		return nil, err
	}
	rec := s.Record
	replay := newShardReplay(shards)
	s.closeGraders = replay.close
	s.Loop = &Loop{
		Spec: ls, Fingerprint: s.Fingerprint, Calls: replay, RunID: rec.RunID,
		Sink:        rec.Write,
		OnIteration: opts.OnIteration,
		OnResult:    opts.OnResult,
		OnDecided:   recordDecided(rec, opts.OnDecided),
	}
	return s, nil
}

func anyDirty(shards *runstore.Shards) bool {
	for _, m := range shards.Manifests {
		if m.GitDirty {
			return true
		}
	}
	return false
}

// shardReplay hands the merge loop each iteration's results from every
// shard's results.jsonl. A shard's file holds its iterations one after
// the other, so each file is read once, front to back, over the whole
// merge.
type shardReplay struct {
	shards *runstore.Shards
	next   []func() (*repo.Result, error, bool)
	stop   []func()
	// ahead is a result read past the end of the iteration asked for: the
	// first of the next one.
	ahead []*repo.Result
}

func newShardReplay(shards *runstore.Shards) *shardReplay {
	r := &shardReplay{shards: shards}
	for _, run := range shards.Runs {
		next, stop := iter.Pull2(resultsOf(run))
		r.next = append(r.next, next)
		r.stop = append(r.stop, stop)
		r.ahead = append(r.ahead, nil)
	}
	return r
}

// resultsOf is a shard's results in file order, with the error that ended
// them, if any, last.
func resultsOf(run runstore.Run) iter.Seq2[*repo.Result, error] {
	return func(yield func(*repo.Result, error) bool) {
		err := run.Results(func(res *repo.Result) error {
			if !yield(res, nil) {
				return repo.ErrStop
			}
			return nil
		})
		if err != nil && !errors.Is(err, repo.ErrStop) {
			yield(nil, err)
		}
	}
}

func (r *shardReplay) close() error {
	for _, stop := range r.stop {
		stop()
	}
	return nil
}

// Run replays iteration it of every shard into sink, shard 1 first.
func (r *shardReplay) Run(ctx context.Context, _ *repo.Dataset, it Iteration, sink func(*repo.Result) error) (Stats, error) {
	var st Stats
	for i := range r.shards.Runs {
		sum, err := r.iteration(i, it)
		if err != nil {
			return st, err
		}
		st.Calls += sum.Calls
		st.CacheHits += sum.CacheHits
		st.Errors += sum.Errors
		// The shards ran side by side: the iteration took as long as the
		// slowest.
		st.Elapsed = max(st.Elapsed, time.Duration(sum.DurationMS)*time.Millisecond)
		n, err := r.replay(ctx, i, it.Index, sink)
		st.Results += n
		if err != nil {
			return st, err
		}
	}
	return st, nil
}

// iteration is shard i's summary of iteration it, checked to have tried
// the same parameters.
func (r *shardReplay) iteration(i int, it Iteration) (*repo.IterationSummary, error) {
	its, m := r.shards.Iterations[i], r.shards.Manifests[i]
	if it.Index >= len(its) {
		return nil, repo.Userf("shard %s (%s) ran %d iteration(s); the merge needs iteration %d", m.Shard, r.shards.Runs[i].Path(), len(its), it.Index)
	}
	sum := its[it.Index]
	if sum.ParamsID != it.ParamsID {
		return nil, repo.Userf("iteration %d of shard %s tried parameters %s, the spec's proposal is %s: the shards ran another spec", it.Index, m.Shard, sum.ParamsID, it.ParamsID)
	}
	return sum, nil
}

// replay streams shard i's results of iteration index into sink.
func (r *shardReplay) replay(ctx context.Context, i, index int, sink func(*repo.Result) error) (int, error) {
	n := 0
	for {
		res := r.ahead[i]
		r.ahead[i] = nil
		if res == nil {
			var err error
			var ok bool
			res, err, ok = r.next[i]()
			if !ok {
				return n, nil
			}
			if err != nil {
				return n, fmt.Errorf("shard %s: %w", r.shards.Manifests[i].Shard, err)
			}
		}
		switch {
		case res.Iteration > index:
			r.ahead[i] = res
			return n, nil
		case res.Iteration < index:
			return n, fmt.Errorf("shard %s: %s holds a result of iteration %d after those of iteration %d", r.shards.Manifests[i].Shard, r.shards.Runs[i].Dir().Results(), res.Iteration, index)
		}
		if err := sink(res); err != nil {
			return n, err
		}
		n++
		if n%4096 == 0 && ctx.Err() != nil {
			return n, ctx.Err()
		}
	}
}
