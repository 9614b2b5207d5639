package repo

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// Shard is one slice of a run split over several machines or processes
// (`selfevals run --shard i/n`): shard Index of Count, 1-based.
type Shard struct {
	Index int `json:"index"`
	Count int `json:"count"`
	// Cases is how many of the dataset's cases fall in this shard.
	Cases int `json:"cases"`
}

// String is "i/n".
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// ShardOf is the shard (1..n) a case belongs to when a run is split n
// ways. It depends on the case alone, never on the file's order: the
// case's thread when it has one (a thread's cases run in order, in one
// place), else its ID.
func ShardOf(c *Case, n int) int {
	if n <= 1 {
		return 1
	}
	h := fnv.New64a()
	if c.ThreadID != "" {
		h.Write([]byte("thread\x00"))
		h.Write([]byte(c.ThreadID))
	} else {
		h.Write([]byte("case\x00"))
		h.Write([]byte(c.ID))
	}
	return int(h.Sum64()%uint64(n)) + 1
}

// MaxShards bounds n in --shard i/n: more shards than that is a typo.
const MaxShards = 10000

// ParseShard reads "i/n" (1 ≤ i ≤ n), or "auto/n", which takes i from
// jobIndex, the 0-based index of a Kubernetes Indexed Job
// (JOB_COMPLETION_INDEX); jobIndex is "" when that is not set.
func ParseShard(s, jobIndex string) (Shard, error) {
	is, ns, ok := strings.Cut(s, "/")
	if !ok {
		return Shard{}, Userf("--shard %q: want i/n, e.g. --shard 2/4 (shard 2 of 4), or auto/n", s)
	}
	n, err := strconv.Atoi(ns)
	if err != nil || n < 1 || n > MaxShards {
		return Shard{}, Userf("--shard %q: n must be a whole number from 1 to %d", s, MaxShards)
	}
	if is == "auto" {
		if jobIndex == "" {
			return Shard{}, &UserError{
				Msg:  fmt.Sprintf("--shard %s: JOB_COMPLETION_INDEX is not set", s),
				Hint: "auto takes the shard from a Kubernetes Indexed Job's JOB_COMPLETION_INDEX (0-based); elsewhere give the shard, e.g. --shard 1/" + ns,
			}
		}
		k, err := strconv.Atoi(jobIndex)
		if err != nil || k < 0 || k >= n {
			return Shard{}, Userf("--shard %s: JOB_COMPLETION_INDEX=%q is not an index from 0 to %d", s, jobIndex, n-1)
		}
		return Shard{Index: k + 1, Count: n}, nil
	}
	i, err := strconv.Atoi(is)
	if err != nil || i < 1 || i > n {
		return Shard{}, Userf("--shard %q: i must be a whole number from 1 to %d (shards count from 1)", s, n)
	}
	return Shard{Index: i, Count: n}, nil
}

// Shard is the slice s of the dataset: Each walks only its cases, Count is
// how many there are (s.Cases too), and ID stays the whole dataset's, so
// the shards of one run all name the same dataset.
func (d *Dataset) Shard(s Shard) (*Dataset, error) {
	if d.shard != nil {
		return nil, fmt.Errorf("dataset %s is already shard %s", d.Path, d.shard)
	}
	view := *d
	view.shard = &s
	n := 0
	if err := view.Each(func(*Case) error { n++; return nil }); err != nil {
		return nil, err
	}
	view.Count, view.shard.Cases = n, n
	return &view, nil
}

// ShardOfRun is the shard this dataset is, or nil for the whole dataset.
func (d *Dataset) ShardOfRun() *Shard { return d.shard }
