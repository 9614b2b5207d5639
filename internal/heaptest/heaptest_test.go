package heaptest

import "testing"

var sink [][]byte

func TestPeakSeesWhatFnHolds(t *testing.T) {
	const held = 64 << 20
	peak := Peak(t, func() error {
		for range held >> 20 {
			sink = append(sink, make([]byte, 1<<20))
		}
		return nil
	})
	sink = nil
	if peak < held {
		t.Errorf("peak %d B while %d B were held", peak, held)
	}
}

func TestWatchLiveSeesACollectedPeak(t *testing.T) {
	highest := WatchLive(t)
	sink = append(sink, make([]byte, 32<<20))
	Live()
	sink = nil
	if got := highest(); got < 32<<20 {
		t.Errorf("highest live heap %d B after holding 32 MiB through a collection", got)
	}
}
