package repo

import (
	"fmt"
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
