package web

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/runstore"
)

// listingRepo writes a repository whose one experiment, "big", has a
// dataset of n cases, and returns its evals directory and dataset file.
func listingRepo(t testing.TB, n int) (evals, dataset string) {
	t.Helper()
	root := t.TempDir()
	evals = filepath.Join(root, "evals")
	dataset = filepath.Join(evals, "datasets", "big.jsonl")
	spec := strings.Replace(chatSpec, "chat.jsonl", "big.jsonl", 1)
	if err := os.MkdirAll(filepath.Dir(dataset), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(evals, "experiments"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(evals, "experiments", "big.yaml"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, `{"input":{"messages":[{"role":"user","content":"ping %d"}]},"expected":{"must_include":["pong"]}}`+"\n", i)
	}
	if err := os.WriteFile(dataset, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return evals, dataset
}

// writeManifest leaves a finished run of "big" that started at started.
func writeManifest(t testing.TB, evals, runID string, started time.Time, datasetID string, cases int) {
	t.Helper()
	run := runstore.Open(evals).NewRun("big", runID)
	if err := run.Create(); err != nil {
		t.Fatal(err)
	}
	man := &repo.RunManifest{RunID: runID, Experiment: "big", DatasetID: datasetID, Cases: cases, State: repo.RunCompleted,
		StartedAt: started.UTC().Format(time.RFC3339Nano), Repetitions: 1, MaxIterations: 2,
		Target: repo.MetricTarget{Name: "pass@1", Operator: ">=", Value: 0.5}}
	if err := run.WriteManifest(man); err != nil {
		t.Fatal(err)
	}
}

// listingServer serves evals for the test, with default options.
func listingServer(t *testing.T, evals string) *httptest.Server {
	t.Helper()
	srv, err := New(Options{EvalsDir: evals, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts
}

// listed is the listing's one experiment, from a server started afresh.
func listed(t *testing.T, evals string) ExperimentSummary {
	t.Helper()
	ts := listingServer(t, evals)
	var exps []ExperimentSummary
	decode(t, getBody(t, ts.URL+"/api/experiments"), &exps)
	if len(exps) != 1 || exps[0].Error != "" {
		t.Fatalf("listing: %+v", exps)
	}
	return exps[0]
}

// allocated is the bytes the process allocated while fn ran.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// The experiments listing of a 200,000-case dataset reads none of its
// cases: after a run on the dataset as it is, it reads nothing of the
// file (the run's manifest has its ID and count); without one, it counts
// its lines but decodes none (decoding allocates some 500 bytes a case).
// The experiment's own page loads the dataset and has the exact ID.
func TestExperimentsListingReadsNoCases(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 200,000-case dataset")
	}
	const n = 200_000
	evals, dataset := listingRepo(t, n)
	st, err := os.Stat(dataset)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := repo.LoadDataset(dataset)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("no run: lines counted, none decoded", func(t *testing.T) {
		var es ExperimentSummary
		bytes := allocated(func() { es = listed(t, evals) })
		if es.Cases != n || es.DatasetID != "" {
			t.Fatalf("listing shows %d cases, dataset %q; want %d and no ID", es.Cases, es.DatasetID, n)
		}
		if bytes > n*50 {
			t.Fatalf("the listing allocated %d bytes (%d a case): it decoded the cases", bytes, bytes/n)
		}
	})

	t.Run("a run that predates the dataset is not believed", func(t *testing.T) {
		writeManifest(t, evals, "run_old", st.ModTime().Add(-time.Hour), "ds_stale", 7)
		if es := listed(t, evals); es.Cases != n || es.DatasetID == "ds_stale" {
			t.Fatalf("listing shows %d cases, dataset %q, from a run on an older dataset", es.Cases, es.DatasetID)
		}
	})

	t.Run("a run on the dataset as it is: nothing of it read", func(t *testing.T) {
		writeManifest(t, evals, "run_new", st.ModTime().Add(time.Second), ds.ID, ds.Count)
		before := readBytes(t)
		es := listed(t, evals)
		read := readBytes(t) - before
		if es.Cases != n || es.DatasetID != ds.ID {
			t.Fatalf("listing shows %d cases, dataset %q; want %d, %s", es.Cases, es.DatasetID, n, ds.ID)
		}
		if read > st.Size()/20 {
			t.Fatalf("the listing read %d bytes; the dataset is %d", read, st.Size())
		}
	})

	t.Run("the experiment's page loads the dataset", func(t *testing.T) {
		ts := listingServer(t, evals)
		var d ExperimentDetail
		decode(t, getBody(t, ts.URL+"/api/experiments/big"), &d)
		if d.Summary.Cases != n || d.Summary.DatasetID != ds.ID {
			t.Fatalf("page shows %d cases, dataset %q; want %d, %s", d.Summary.Cases, d.Summary.DatasetID, n, ds.ID)
		}
	})

	t.Run("a bad line found by the page shows in the listing", func(t *testing.T) {
		f, err := os.OpenFile(dataset, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(`{"input":"x","expected":{"must_include":"not a list"}}` + "\n"); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		ts := listingServer(t, evals)
		var d ExperimentDetail
		decode(t, getBody(t, ts.URL+"/api/experiments/big"), &d)
		var exps []ExperimentSummary
		decode(t, getBody(t, ts.URL+"/api/experiments"), &exps)
		line := fmt.Sprintf("big.jsonl:%d", n+1)
		if !strings.Contains(d.Summary.Error, line) || len(exps) != 1 || exps[0].Error != d.Summary.Error {
			t.Fatalf("page error %q, listing %+v; want both to name %s", d.Summary.Error, exps, line)
		}
	})
}

// BenchmarkExperimentsListing200k is a server's first /api/experiments
// with one experiment over a 200,000-case dataset: "full load" is what
// the listing did before (load and validate the dataset), "lines" the
// listing with no run to take the dataset's ID from (a count of its case
// lines), "manifest" the listing after a run on the dataset as it is;
// the floor is the same listing over a one-case dataset. Each iteration
// starts a server afresh (no cache).
func BenchmarkExperimentsListing200k(b *testing.B) {
	evals, dataset := listingRepo(b, 200_000)
	small, _ := listingRepo(b, 1)
	list := func(b *testing.B, evals string, full bool) {
		for b.Loop() {
			srv, err := New(Options{EvalsDir: evals, Version: "test"})
			if err != nil {
				b.Fatal(err)
			}
			if es := srv.experimentSummary("big", full); es.Error != "" || es.Cases == 0 {
				b.Fatalf("%+v", es)
			}
		}
	}
	b.Run("full load", func(b *testing.B) { list(b, evals, true) })
	b.Run("lines", func(b *testing.B) { list(b, evals, false) })
	b.Run("manifest", func(b *testing.B) {
		st, err := os.Stat(dataset)
		if err != nil {
			b.Fatal(err)
		}
		ds, err := repo.LoadDataset(dataset)
		if err != nil {
			b.Fatal(err)
		}
		writeManifest(b, evals, "run_new", st.ModTime().Add(time.Second), ds.ID, ds.Count)
		list(b, evals, false)
	})
	b.Run("floor: one case", func(b *testing.B) { list(b, small, false) })
}
