package main

import (
	"github.com/goccy/go-json"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/runstore"
	"github.com/selfevals/selfevals/reports"
)

// warmRunEncoders compiles, in the background, the JSON encoders of the
// documents a run writes once or a few times (run.json, iterations.jsonl,
// the committed summary, the lock, the JSON report, a case's content
// hash). goccy compiles a type's encoder on its first use, 0.5–1.5 ms
// each, and a small run met each of them on its one path, one after the
// other; compiled while the spec and dataset load, they cost the run's
// wall time nothing on a machine with a second core. The documents are
// encoded from zero values; their bytes are dropped.
func warmRunEncoders() {
	go func() {
		for _, v := range []any{
			&repo.RunManifest{}, &repo.IterationSummary{}, &repo.ResultsSummary{},
			&runstore.LockHolder{}, &repo.Case{}, &reports.JSONReport{},
		} {
			_, _ = json.Marshal(v)
		}
	}()
}
