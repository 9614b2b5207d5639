package runner

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/selfevals/selfevals/repo"
)

// TestAggregatorMatchesReference feeds the same random results to the
// compact aggregator and to the map-based one it replaced, and wants the
// same metrics, pairs, verdicts and failure modes: with and without a
// dataset, cases the dataset lacks, repetitions repeated or out of range,
// costs, errors, scores a label does not imply, failure modes, and
// reasons kept in memory and in a temporary file.
func TestAggregatorMatchesReference(t *testing.T) {
	for _, tc := range []struct {
		name      string
		reps      int
		dataset   bool
		odd       bool // duplicates, out-of-range repetitions, unknown cases
		costs     bool
		scores    bool
		textLimit int
		cases     int // 500 unless set
	}{
		{name: "one rep, dataset", reps: 1, dataset: true},
		{name: "one rep, no dataset", reps: 1},
		{name: "three reps, costs and scores", reps: 3, dataset: true, costs: true, scores: true},
		{name: "odd results", reps: 2, dataset: true, odd: true, costs: true},
		{name: "odd results, no dataset", reps: 2, odd: true, scores: true},
		{name: "reasons spilled", reps: 2, dataset: true, textLimit: 64},
		{name: "past the bootstrap", reps: 3, dataset: true, costs: true, scores: true, cases: 3000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.textLimit > 0 {
				old := textsInMemory
				textsInMemory = tc.textLimit
				t.Cleanup(func() { textsInMemory = old })
			}
			rng := rand.New(rand.NewPCG(1, uint64(len(tc.name))))
			cases := cmp.Or(tc.cases, 500)
			ids := make([]string, cases)
			taken := map[string]bool{}
			for i := range ids {
				ids[i] = fmt.Sprintf("c%05d", rng.IntN(1e5))
				if taken[ids[i]] {
					ids[i] = fmt.Sprintf("d%05d", i) // unique
				}
				taken[ids[i]] = true
			}
			var ds *repo.Dataset
			if tc.dataset {
				ds = writeIDsDataset(t, ids)
			}
			got, want := NewAggregatorOver(tc.reps, ds), newRefAggregator(tc.reps)
			for _, r := range randomResults(rng, ids, tc.reps, tc.odd, tc.costs, tc.scores) {
				got.Add(r)
				want.Add(r)
			}
			extra := []string{"pass@2", "pass^2", "pass^3"}
			if g, w := got.Metrics(0.95, extra), want.Metrics(0.95, extra); !reflect.DeepEqual(g, w) {
				for k := range w {
					if !reflect.DeepEqual(g[k], w[k]) {
						t.Errorf("metric %s = %+v, want %+v", k, g[k], w[k])
					}
				}
			}
			g, w := got.Pairs(), want.Pairs()
			if !reflect.DeepEqual(g.List, w.List) || g.Len() != w.Len() {
				t.Errorf("pairs differ: %d against %d; first %+v, want %+v", g.Len(), w.Len(), g.List[0], w.List[0])
			}
			for i := range min(g.Len(), w.Len()) {
				if g.ID(i) != w.ID(i) {
					t.Fatalf("pair %d is case %s, want %s", i, g.ID(i), w.ID(i))
				}
			}
			if g, w := got.Verdicts(), want.Verdicts(); !reflect.DeepEqual(g, w) {
				for i := range min(len(g), len(w)) {
					if !reflect.DeepEqual(g[i], w[i]) {
						t.Fatalf("verdict %d = %+v, want %+v", i, g[i], w[i])
					}
				}
				t.Errorf("%d verdicts, want %d", len(g), len(w))
			}
			if !reflect.DeepEqual(got.FailureModes(), want.FailureModes()) || got.Calls() != want.Calls() || got.CacheHits() != want.CacheHits() {
				t.Errorf("modes %v calls %d hits %d, want %v %d %d", got.FailureModes(), got.Calls(), got.CacheHits(), want.FailureModes(), want.Calls(), want.CacheHits())
			}
		})
	}
}

// writeIDsDataset writes and loads a dataset of the given IDs, in that order.
func writeIDsDataset(t testing.TB, ids []string) *repo.Dataset {
	t.Helper()
	var b strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&b, `{"id":%q,"input":{"q":%q}}`+"\n", id, id)
	}
	path := filepath.Join(t.TempDir(), "d.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ds, err := repo.LoadDataset(path)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// randomResults is every case × repetition in a shuffled order, with
// labels, reasons and failure modes drawn at random. Latencies and costs
// are multiples of 1/8, so their sums do not depend on the order they are
// added in.
func randomResults(rng *rand.Rand, ids []string, reps int, odd, costs, scores bool) []*repo.Result {
	labels := []repo.Label{repo.Pass, repo.Pass, repo.Fail, repo.Error, repo.Partial, repo.Skipped}
	var out []*repo.Result
	for _, id := range ids {
		for rep := range reps {
			if rng.IntN(10) == 0 {
				continue // not run (an interrupted iteration)
			}
			out = append(out, randomResult(rng, id, rep, labels, costs, scores))
		}
	}
	if odd {
		for range len(ids) / 5 {
			id := ids[rng.IntN(len(ids))]
			switch rng.IntN(3) {
			case 0:
				out = append(out, randomResult(rng, id, rng.IntN(reps), labels, costs, scores)) // again
			case 1:
				out = append(out, randomResult(rng, id, reps+rng.IntN(2), labels, costs, scores)) // out of range
			default:
				out = append(out, randomResult(rng, fmt.Sprintf("x%04d", rng.IntN(100)), rng.IntN(reps), labels, costs, scores))
			}
		}
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func randomResult(rng *rand.Rand, id string, rep int, labels []repo.Label, costs, scores bool) *repo.Result {
	l := labels[rng.IntN(len(labels))]
	r := &repo.Result{Trace: repo.Trace{CaseID: id, Repetition: rep, LatencyMS: float64(rng.IntN(800)) / 8, Cached: rng.IntN(7) == 0},
		Label: l, Score: impliedScore(l)}
	if scores && rng.IntN(3) == 0 {
		r.Score = float64(rng.IntN(100)) / 100
	}
	if costs {
		r.CostUSD = float64(rng.IntN(16)) / 8
		r.Usage.InputTokens, r.Usage.OutputTokens = int64(rng.IntN(50)), int64(rng.IntN(50))
	}
	if l == repo.Error {
		r.Error, r.ErrorKind = "boom", repo.ErrAgent
	}
	g := repo.Grade{Grader: []string{"rules", "judge"}[rng.IntN(2)], Label: l}
	if l != repo.Pass {
		if rng.IntN(4) > 0 {
			g.Reason = fmt.Sprintf("%s missed %d", id, rng.IntN(1000)) // mostly distinct
		}
		if rng.IntN(2) == 0 {
			g.FailureModes = []string{[]string{"tone", "format", "facts"}[rng.IntN(3)]}
		}
	}
	r.Grades = []repo.Grade{{Grader: "schema", Label: repo.Pass}, g}
	return r
}
