package repo

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

// TestCaseIndex: ranks are the places in case ID order whatever the
// file's order, every ID is found and nothing else is, and the dataset ID
// is the one DatasetID gives for the same IDs.
func TestCaseIndex(t *testing.T) {
	for _, order := range []string{"sorted", "shuffled"} {
		t.Run(order, func(t *testing.T) {
			ids := make([]string, 3000)
			for i := range ids {
				ids[i] = fmt.Sprintf("c%05d", i)
			}
			if order == "shuffled" {
				for i := range ids {
					j := (i * 7919) % len(ids)
					ids[i], ids[j] = ids[j], ids[i]
				}
			}
			var b strings.Builder
			for _, id := range ids {
				fmt.Fprintf(&b, `{"id":%q,"input":{"q":"%s padding %s"}}`+"\n", id, id, strings.Repeat("x", 800))
			}
			path := filepath.Join(t.TempDir(), "d.jsonl")
			if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			ds, err := LoadDataset(path)
			if err != nil {
				t.Fatal(err)
			}
			if ds.kept != nil {
				t.Fatal("the file is meant to be above keptFileBytes, streamed")
			}
			x := ds.Index()
			sorted := slices.Sorted(slices.Values(ids))
			if x.InFileOrder() != (order == "sorted") {
				t.Errorf("InFileOrder = %v", x.InFileOrder())
			}
			for r, id := range sorted {
				if x.ID(r) != id {
					t.Fatalf("ID(%d) = %q, want %q", r, x.ID(r), id)
				}
				if got, ok := x.Rank(id); !ok || got != r {
					t.Fatalf("Rank(%q) = %d, %v, want %d", id, got, ok, r)
				}
			}
			for i, id := range ids {
				if x.ID(x.RankAt(i)) != id {
					t.Fatalf("RankAt(%d) is %q, want %q", i, x.ID(x.RankAt(i)), id)
				}
			}
			for _, id := range []string{"", "c", "c000001", "c03000", "d00001"} {
				if _, ok := x.Rank(id); ok {
					t.Errorf("Rank(%q) found", id)
				}
			}
			if want := DatasetID(ids); ds.ID != want {
				t.Errorf("dataset ID %s, want %s", ds.ID, want)
			}
			// Each (streamed: the file is above keptFileBytes) gives every
			// case its ID, in file order.
			i := 0
			if err := ds.Each(func(c *Case) error {
				if c.ID != ids[i] {
					return fmt.Errorf("case %d has ID %q, want %q", i, c.ID, ids[i])
				}
				i++
				return nil
			}); err != nil || i != len(ids) {
				t.Fatalf("Each: %v after %d cases", err, i)
			}
		})
	}
}

// TestDuplicateIDsAmongOtherProblems: duplicates found by the index's sort
// are reported at their lines, among the other problems in line order,
// against the first line with the ID.
func TestDuplicateIDsAmongOtherProblems(t *testing.T) {
	lines := []string{
		`{"id":"b","input":{}}`,
		`{"id":"a","input":{}}`,
		`{"id":"b","input":{}}`,
		`{"input":{},"nope":1}`,
		`{"id":"a","input":{}}`,
		`{"id":"b","input":{}}`,
	}
	path := filepath.Join(t.TempDir(), "d.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadDataset(path)
	probs, ok := err.(Problems)
	if !ok {
		t.Fatalf("err = %v, want problems", err)
	}
	want := []string{
		path + ":3:1: id: duplicate case ID b (same as line 1)",
		path + ":4:",
		path + ":5:1: id: duplicate case ID a (same as line 2)",
		path + ":6:1: id: duplicate case ID b (same as line 1)",
	}
	if len(probs) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(probs), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(probs[i].Error(), w) {
			t.Errorf("problem %d = %q, want prefix %q", i, probs[i].Error(), w)
		}
	}
}

// TestCasePairSize: every iteration keeps a pair per case; the fields are
// ordered so the struct has no padding, and the case it is is its list's
// to say.
func TestCasePairSize(t *testing.T) {
	if s := unsafe.Sizeof(CasePair{}); s != 24 {
		t.Errorf("CasePair is %d bytes, want 24", s)
	}
}
