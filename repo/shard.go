package repo

import (
	"fmt"
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
	// FNV-1a, inline: it runs for every case of every iteration of a
	// shard, and hash/fnv through its interface allocates each time.
	h := uint64(fnvOffset)
	if c.ThreadID != "" {
		h = fnv1a(fnv1a(h, "thread\x00"), c.ThreadID)
	} else {
		h = fnv1a(fnv1a(h, "case\x00"), c.ID)
	}
	return int(h%uint64(n)) + 1
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// fnv1a folds s into the 64-bit FNV-1a hash h.
func fnv1a(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
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

// ShardSize is what one shard of a split run holds (`selfevals estimate
// --shard n`): its cases, and the turns of its longest thread, which run
// one after another in one slot and so bound its wall time from below.
type ShardSize struct {
	Cases         int
	LongestThread int
}

// ShardSizes splits the dataset n ways as `run --shard i/n` does (ShardOf)
// and says what each shard holds; index i-1 is shard i.
func (d *Dataset) ShardSizes(n int) ([]ShardSize, error) {
	if n < 1 {
		n = 1
	}
	sizes := make([]ShardSize, n)
	turns := map[string]int{}
	err := d.Each(func(c *Case) error {
		s := &sizes[ShardOf(c, n)-1]
		s.Cases++
		length := 1
		if c.ThreadID != "" {
			turns[c.ThreadID]++
			length = turns[c.ThreadID]
		}
		s.LongestThread = max(s.LongestThread, length)
		return nil
	})
	return sizes, err
}
