package reports

import (
	"strings"
	"testing"
	"time"
)

func TestEstimateText(t *testing.T) {
	head := "experiment:  pingpong (exp_1)\niterations:  2 (at most; convergence may stop earlier)\ncalls:       12 = 2 cases × 3 repetitions × 2 iterations\n"
	for _, c := range []struct {
		e    Estimate
		cost string
	}{
		{Estimate{}, "cost:        unknown: no earlier run reported a cost; pass --cost-per-call\n"},
		{Estimate{CostPerCall: 0.003}, "cost:        $0.04 at $0.003 per call\n"},
		{Estimate{CostPerCall: 0.0125, MeanOf: "evals/runs/pingpong/run_1"}, "cost:        $0.15 at $0.012500 per call (mean of evals/runs/pingpong/run_1)\n"},
	} {
		e := c.e
		e.Slug, e.ID, e.Cases, e.Repetitions, e.Iterations = "pingpong", "exp_1", 2, 3, 2
		if got := EstimateText(&e); got != head+c.cost {
			t.Errorf("got\n%s\nwant\n%s", got, head+c.cost)
		}
	}
}

// LLM judges are model calls too: counted per trace they grade and priced
// per call, with a total when every price is known.
func TestEstimateTextJudges(t *testing.T) {
	e := Estimate{Slug: "hello", ID: "exp_1", Cases: 10, Repetitions: 2, Iterations: 3, CostPerCall: 0.01, Judges: []JudgeEstimate{
		{Grader: "reply_judge", Traces: 4, CostPerCall: 0.002, Known: true, MeanOf: "evals/runs/hello/run_1"},
		{Grader: "tone_judge", Traces: 10, CostPerCall: 0.001, Known: true},
	}}
	got := EstimateText(&e)
	for _, want := range []string{
		"calls:       60 = 10 cases × 2 repetitions × 3 iterations\ncost:        $0.60 at $0.01 per call\n",
		"judge calls: 24 = reply_judge: 4 traces × 2 repetitions × 3 iterations (at most: answers in the judge cache are not asked again)\n",
		"judge cost:  reply_judge $0.05 at $0.002000 per call (mean of evals/runs/hello/run_1)\n",
		"judge calls: 60 = tone_judge: 10 traces × 2 repetitions × 3 iterations",
		"judge cost:  tone_judge $0.06 at $0.001 per call\n",
		"total cost:  $0.71\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("estimate lacks %q:\n%s", want, got)
		}
	}
	e.Judges[1].Known = false
	got = EstimateText(&e)
	if !strings.Contains(got, "judge cost:  tone_judge unknown: no earlier run recorded its cost; pass --judge-cost-per-call") || strings.Contains(got, "total cost") {
		t.Errorf("an unknown judge cost:\n%s", got)
	}
}

// A split run: each shard's calls and wall time, and the split run's wall
// time, its largest shard's. A shard whose long thread runs turn after
// turn is slower than its case count alone says.
func TestEstimateTextShards(t *testing.T) {
	e := Estimate{Slug: "support", ID: "exp_1", Cases: 100, Repetitions: 2, Iterations: 3, CostPerCall: 0.01, Parallel: 4,
		Shards:  []ShardEstimate{{Cases: 30, LongestThread: 1}, {Cases: 20, LongestThread: 25}, {Cases: 50, LongestThread: 1}},
		Latency: 10 * time.Second, LatencyOf: "evals/runs/support/run_1"}
	got := EstimateText(&e)
	for _, want := range []string{
		"shards:      3 (run --shard i/3 on 3 machines or processes, then selfevals merge)\n",
		// 60 calls over 4 slots: 15 rounds of 10 s, 3 iterations.
		"shard 1/3:   180 calls = 30 cases × 2 repetitions × 3 iterations, about 7m30s\n",
		// 40 calls would take 10 rounds, but a thread of 25 turns takes 25.
		"shard 2/3:   120 calls = 20 cases × 2 repetitions × 3 iterations, about 12m30s\n",
		"shard 3/3:   300 calls = 50 cases × 2 repetitions × 3 iterations, about 12m30s\n",
		"wall time:   about 12m30s, the largest shard's (3/3); unsplit about 25m0s; at 10s per call (mean of evals/runs/support/run_1), 4 in parallel per shard\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("estimate lacks %q:\n%s", want, got)
		}
	}

	e.Latency, e.LatencyOf = 0, ""
	got = EstimateText(&e)
	if !strings.Contains(got, "shard 1/3:   180 calls = 30 cases × 2 repetitions × 3 iterations\n") ||
		!strings.Contains(got, "wall time:   unknown: no earlier run recorded a latency; pass --latency\n") {
		t.Errorf("an unknown latency:\n%s", got)
	}

	// Many shards: the largest and the smallest only.
	e.Shards = make([]ShardEstimate, 40)
	for i := range e.Shards {
		e.Shards[i] = ShardEstimate{Cases: 10 + i%7, LongestThread: 1}
	}
	e.Shards[17].Cases, e.Shards[30].Cases = 2, 30
	e.Cases = 0
	for _, s := range e.Shards {
		e.Cases += s.Cases
	}
	e.Latency = 1500 * time.Millisecond
	got = EstimateText(&e)
	if n := strings.Count(got, "\nshard "); n != 2 {
		t.Errorf("%d shard lines of 40, want the largest and the smallest:\n%s", n, got)
	}
	for _, want := range []string{"shard 18/40: 12 calls = 2 cases", "shard 31/40: 180 calls = 30 cases", "(38 more shards, no larger or smaller)",
		"shard 31/40: 180 calls = 30 cases × 2 repetitions × 3 iterations, about 1m8s\n", "wall time:   about 1m8s, the largest shard's (31/40); unsplit about 19m35s; at 1.5s per call, 4 in parallel per shard\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("estimate lacks %q:\n%s", want, got)
		}
	}

	// Shards all alike: one stands for them all.
	for i := range e.Shards {
		e.Shards[i] = ShardEstimate{Cases: 5, LongestThread: 1}
	}
	got = EstimateText(&e)
	if n := strings.Count(got, "\nshard "); n != 1 || !strings.Contains(got, "shard 1/40:  30 calls = 5 cases") || !strings.Contains(got, "(39 more shards, no larger or smaller)") {
		t.Errorf("40 equal shards:\n%s", got)
	}
}

// An empty shard is still a shard merge waits for; a fast agent's wall
// time keeps its digits.
func TestEstimateTextEmptyShard(t *testing.T) {
	e := Estimate{Slug: "pingpong", ID: "exp_1", Cases: 3, Repetitions: 1, Iterations: 2, Parallel: 1, Latency: 340 * time.Microsecond,
		Shards: []ShardEstimate{{}, {Cases: 3, LongestThread: 1}}}
	got := EstimateText(&e)
	for _, want := range []string{
		"shard 1/2:   0 calls = 0 cases × 1 repetitions × 2 iterations, about 0s (no case falls here: run it all the same, merge wants every shard)\n",
		"shard 2/2:   6 calls = 3 cases × 1 repetitions × 2 iterations, about 2ms\n",
		"wall time:   about 2ms, the largest shard's (2/2); unsplit about 2ms; at 340µs per call, 1 in parallel per shard\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("estimate lacks %q:\n%s", want, got)
		}
	}
}
