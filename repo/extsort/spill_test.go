package extsort

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestSpillSorterKeepsInsertionOrderWithinAKey checks the merge of spilled
// files: keys in order, and the records of one key in the order added.
func TestSpillSorterKeepsInsertionOrderWithinAKey(t *testing.T) {
	t.Parallel()
	s := NewSorter(256)
	defer s.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	type rec struct {
		key string
		n   int
	}
	var want []rec
	for i := range 5000 {
		r := rec{fmt.Sprintf("k%03d", rng.IntN(300)), i}
		want = append(want, r)
		if err := s.Add(r.key, fmt.Appendf(nil, "%d", r.n)); err != nil {
			t.Fatal(err)
		}
	}
	if s.Files() < 10 {
		t.Fatalf("only %d spill files: the merge is not exercised", s.Files())
	}
	slices.SortStableFunc(want, func(a, b rec) int { return strings.Compare(a.key, b.key) })
	i := 0
	err := s.Each(func(key string, val []byte) error {
		if w := want[i]; key != w.key || string(val) != fmt.Sprint(w.n) {
			return fmt.Errorf("record %d: %s=%s, want %s=%d", i, key, val, w.key, w.n)
		}
		i++
		return nil
	})
	if err != nil || i != len(want) {
		t.Fatalf("%v after %d of %d records", err, i, len(want))
	}
}
