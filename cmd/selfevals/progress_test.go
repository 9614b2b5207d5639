package main

import (
	"testing"
	"time"
)

// The progress line's rate reads sensibly at any speed: calls a second
// when fast, seconds a call when slower than one a second, never "0/s".
func TestProgressRate(t *testing.T) {
	for _, c := range []struct {
		done    int64
		elapsed time.Duration
		want    string
	}{
		{0, 3 * time.Second, "no call finished yet"},
		{2, 5 * time.Second, "2.5 s/call"},
		{1, 40 * time.Second, "40.0 s/call"},
		{3, 2 * time.Second, "1.5/s"},
		{250, 10 * time.Second, "25/s"},
	} {
		if got := rate(c.done, c.elapsed); got != c.want {
			t.Errorf("rate(%d, %s) = %q, want %q", c.done, c.elapsed, got, c.want)
		}
	}
}
