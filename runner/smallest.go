package runner

import (
	"container/heap"
	"slices"
)

// smallest keeps the k least items seen under cmp, in O(k) memory
// whatever how many are offered: what a listing capped at k needs.
// k ≤ 0 keeps every item.
type smallest[T any] struct {
	k     int
	cmp   func(a, b T) int
	items []T // a max-heap under cmp once k items are held
}

func newSmallest[T any](k int, cmp func(a, b T) int) *smallest[T] {
	return &smallest[T]{k: k, cmp: cmp}
}

// Offer keeps x if it is among the k least so far.
func (s *smallest[T]) Offer(x T) {
	switch {
	case s.k <= 0 || len(s.items) < s.k-1:
		s.items = append(s.items, x)
	case len(s.items) == s.k-1:
		s.items = append(s.items, x)
		heap.Init(s)
	case s.cmp(x, s.items[0]) < 0:
		s.items[0] = x
		heap.Fix(s, 0)
	}
}

// Sorted is the items kept, least first.
func (s *smallest[T]) Sorted() []T {
	out := slices.Clone(s.items)
	slices.SortFunc(out, s.cmp)
	return out
}

// heap.Interface, largest on top.
func (s *smallest[T]) Len() int           { return len(s.items) }
func (s *smallest[T]) Less(i, j int) bool { return s.cmp(s.items[i], s.items[j]) > 0 }
func (s *smallest[T]) Swap(i, j int)      { s.items[i], s.items[j] = s.items[j], s.items[i] }
func (s *smallest[T]) Push(x any)         { s.items = append(s.items, x.(T)) }
func (s *smallest[T]) Pop() any {
	x := s.items[len(s.items)-1]
	s.items = s.items[:len(s.items)-1]
	return x
}
