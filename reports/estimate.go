package reports

import (
	"fmt"
	"strings"
	"time"
)

// Estimate is what a run would take before it starts.
type Estimate struct {
	Slug, ID                       string
	Cases, Repetitions, Iterations int
	// CostPerCall is the USD one agent call costs: as given, or, with MeanOf
	// set, the mean over the calls of that earlier run. 0 when unknown.
	CostPerCall float64
	MeanOf      string
	// Judges are the spec's llm_judge graders, each a model call per
	// trace it grades.
	Judges []JudgeEstimate
	// Shards, with --shard n, are the n shards of a split run, shard i at
	// index i-1; nil for an estimate of one unsplit run.
	Shards []ShardEstimate
	// Parallel is how many calls a shard makes at once (run.parallelism).
	Parallel int
	// Latency is the wall time of one agent call: as given, or, with
	// LatencyOf set, the mean over that earlier run's calls. 0 when unknown.
	Latency   time.Duration
	LatencyOf string
}

// ShardEstimate is what one shard of a split run holds.
type ShardEstimate struct {
	Cases int
	// LongestThread is the turns of its longest thread: they run one
	// after another in one slot.
	LongestThread int
}

// JudgeEstimate is what one LLM judge would take.
type JudgeEstimate struct {
	Grader string
	// Traces is how many traces of one repetition of one iteration it
	// grades.
	Traces int
	// CostPerCall is the USD one judge call costs, known when Known: as
	// given, or, with MeanOf set, the mean over that earlier run's grades.
	CostPerCall float64
	Known       bool
	MeanOf      string
}

// EstimateText renders an estimate: iterations, agent and judge calls, and
// cost.
func EstimateText(e *Estimate) string {
	var b strings.Builder
	calls := e.Cases * e.Repetitions * e.Iterations
	fmt.Fprintf(&b, "experiment:  %s (%s)\n", e.Slug, e.ID)
	fmt.Fprintf(&b, "iterations:  %d (at most; convergence may stop earlier)\n", e.Iterations)
	fmt.Fprintf(&b, "calls:       %d = %d cases × %d repetitions × %d iterations\n", calls, e.Cases, e.Repetitions, e.Iterations)
	cost := float64(calls) * e.CostPerCall
	switch {
	case e.MeanOf != "":
		fmt.Fprintf(&b, "cost:        $%.2f at $%.6f per call (mean of %s)\n", cost, e.CostPerCall, e.MeanOf)
	case e.CostPerCall > 0:
		fmt.Fprintf(&b, "cost:        $%.2f at $%g per call\n", cost, e.CostPerCall)
	default:
		b.WriteString("cost:        unknown: no earlier run reported a cost; pass --cost-per-call\n")
	}
	if len(e.Judges) > 0 {
		writeJudgeEstimates(&b, e, cost)
	}
	if len(e.Shards) > 0 {
		writeShardEstimates(&b, e)
	}
	return b.String()
}

// writeJudgeEstimates adds the judges' calls and cost, and the total when
// every cost is known.
func writeJudgeEstimates(b *strings.Builder, e *Estimate, agentCost float64) {
	total, known := agentCost, e.CostPerCall > 0 || e.MeanOf != ""
	for _, j := range e.Judges {
		n := j.Traces * e.Repetitions * e.Iterations
		fmt.Fprintf(b, "judge calls: %d = %s: %d traces × %d repetitions × %d iterations (at most: answers in the judge cache are not asked again)\n",
			n, j.Grader, j.Traces, e.Repetitions, e.Iterations)
		c := float64(n) * j.CostPerCall
		switch {
		case !j.Known:
			fmt.Fprintf(b, "judge cost:  %s unknown: no earlier run recorded its cost; pass --judge-cost-per-call\n", j.Grader)
			known = false
		case j.MeanOf != "":
			fmt.Fprintf(b, "judge cost:  %s $%.2f at $%.6f per call (mean of %s)\n", j.Grader, c, j.CostPerCall, j.MeanOf)
		default:
			fmt.Fprintf(b, "judge cost:  %s $%.2f at $%g per call\n", j.Grader, c, j.CostPerCall)
		}
		total += c
	}
	if known {
		fmt.Fprintf(b, "total cost:  $%.2f\n", total)
	}
}

// shardLines is how many shards are listed one per line; past it, only
// the largest and the smallest are.
const shardLines = 16

// writeShardEstimates adds each shard's calls and wall time, and the wall
// time of the split run: that of its largest shard.
func writeShardEstimates(b *strings.Builder, e *Estimate) {
	n := len(e.Shards)
	fmt.Fprintf(b, "shards:      %d (run --shard i/%d on %d machines or processes, then selfevals merge)\n", n, n, n)
	largest, smallest := 0, 0
	for i, s := range e.Shards {
		l := e.Shards[largest]
		if r, lr := e.shardRounds(s), e.shardRounds(l); r > lr || (r == lr && s.Cases > l.Cases) {
			largest = i
		}
		if s.Cases < e.Shards[smallest].Cases {
			smallest = i
		}
	}
	shown := 0
	for i := range e.Shards {
		if n <= shardLines || i == largest || i == smallest {
			b.WriteString(e.shardLine(i))
			shown++
		}
	}
	if shown < n {
		fmt.Fprintf(b, "             (%d more shards, no larger or smaller)\n", n-shown)
	}
	if e.Latency <= 0 {
		b.WriteString("wall time:   unknown: no earlier run recorded a latency; pass --latency\n")
		return
	}
	of := ""
	if e.LatencyOf != "" {
		of = " (mean of " + e.LatencyOf + ")"
	}
	fmt.Fprintf(b, "wall time:   about %s, the largest shard's (%d/%d); unsplit about %s; at %s per call%s, %d in parallel per shard\n",
		roundWall(e.shardWall(e.Shards[largest])), largest+1, n, roundWall(e.shardWall(e.unsplit())), roundWall(e.Latency), of, max(e.Parallel, 1))
}

// unsplit is the whole dataset as one shard.
func (e *Estimate) unsplit() ShardEstimate {
	all := ShardEstimate{Cases: e.Cases}
	for _, s := range e.Shards {
		all.LongestThread = max(all.LongestThread, s.LongestThread)
	}
	return all
}

// shardLine is one shard's cases, calls and, when the latency is known,
// wall time.
func (e *Estimate) shardLine(i int) string {
	s := e.Shards[i]
	label := fmt.Sprintf("shard %d/%d:", i+1, len(e.Shards))
	line := fmt.Sprintf("%-12s %d calls = %d cases × %d repetitions × %d iterations",
		label, s.Cases*e.Repetitions*e.Iterations, s.Cases, e.Repetitions, e.Iterations)
	if e.Latency > 0 {
		line += ", about " + roundWall(e.shardWall(s))
	}
	if s.Cases == 0 {
		// merge wants every shard of 1..n, empty or not.
		line += " (no case falls here: run it all the same, merge wants every shard)"
	}
	return line + "\n"
}

// shardRounds is how many calls' time one iteration of a shard takes: its
// calls spread over the parallel slots, but never fewer than the turns of
// its longest thread, which run one after another.
func (e *Estimate) shardRounds(s ShardEstimate) int {
	parallel := max(e.Parallel, 1)
	return max((s.Cases*e.Repetitions+parallel-1)/parallel, s.LongestThread)
}

// shardWall is a shard's wall time; its iterations run one after another.
func (e *Estimate) shardWall(s ShardEstimate) time.Duration {
	return time.Duration(e.Iterations*e.shardRounds(s)) * e.Latency
}

// roundWall keeps about two significant units (1h23m0s, 4m10s, 2.5s,
// 340ms, 12µs): an estimate has no more.
func roundWall(d time.Duration) string {
	switch {
	case d >= time.Hour:
		return d.Round(time.Minute).String()
	case d >= time.Minute:
		return d.Round(time.Second).String()
	case d >= time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(time.Millisecond).String()
	default:
		return d.Round(time.Microsecond).String()
	}
}
