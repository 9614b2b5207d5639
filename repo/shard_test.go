package repo

import (
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ShardSizes counts each case in the shard ShardOf gives it, every case
// exactly once, and a thread's turns together, in one shard.
func TestShardSizes(t *testing.T) {
	var lines []string
	for i := range 40 {
		lines = append(lines, fmt.Sprintf(`{"id": "c%d", "input": "q%d", "expected": {"must_include": ["a"]}}`, i, i))
	}
	for turn := range 5 {
		lines = append(lines, fmt.Sprintf(`{"id": "t%d", "thread_id": "chat", "thread_position": %d, "input": "turn", "expected": {"must_include": ["a"]}}`, turn, turn))
	}
	path := filepath.Join(t.TempDir(), "cases.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := LoadDataset(path)
	if err != nil {
		t.Fatal(err)
	}
	cases, _ := d.Cases()
	for _, n := range []int{1, 3, 7} {
		sizes, err := d.ShardSizes(n)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]ShardSize, n)
		for i := range cases {
			want[ShardOf(&cases[i], n)-1].Cases++
		}
		total := 0
		for i, s := range sizes {
			total += s.Cases
			if s.Cases != want[i].Cases {
				t.Errorf("n=%d shard %d: %d cases, want %d", n, i+1, s.Cases, want[i].Cases)
			}
		}
		if total != len(cases) {
			t.Errorf("n=%d: %d cases over the shards, want %d", n, total, len(cases))
		}
		chat := sizes[ShardOf(&Case{ThreadID: "chat"}, n)-1]
		if chat.LongestThread != 5 {
			t.Errorf("n=%d: the thread's shard has a longest thread of %d turns, want 5", n, chat.LongestThread)
		}
	}
}

// ShardOf is FNV-1a of a tag and the case's thread or ID: the same shards
// as hash/fnv gives, whichever machine computes them.
func TestShardOfIsFNV1a(t *testing.T) {
	for i, c := range []Case{{ID: "case_0a1b"}, {ID: "explicit-07"}, {ID: "x", ThreadID: "t1"}, {ID: ""}} {
		h := fnv.New64a()
		if c.ThreadID != "" {
			h.Write([]byte("thread\x00" + c.ThreadID))
		} else {
			h.Write([]byte("case\x00" + c.ID))
		}
		for _, n := range []int{2, 3, 7, 1000} {
			if got, want := ShardOf(&c, n), int(h.Sum64()%uint64(n))+1; got != want {
				t.Errorf("case %d, n=%d: shard %d, FNV-1a says %d", i, n, got, want)
			}
		}
	}
	if a := testing.AllocsPerRun(100, func() { ShardOf(&Case{ID: "case_0a1b"}, 4) }); a != 0 {
		t.Errorf("ShardOf allocates %v times a call", a)
	}
}
