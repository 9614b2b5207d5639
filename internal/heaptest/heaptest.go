// Package heaptest samples the Go heap for the tests that prove a path
// runs in bounded memory (runtime/metrics, not timing).
package heaptest

import (
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"
)

const (
	liveBytes    = "/gc/heap/live:bytes"                // live after the last collection
	objectsBytes = "/memory/classes/heap/objects:bytes" // live and not yet swept: what the heap holds now
)

func read(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// Live is the heap live after a collection made now.
func Live() uint64 {
	runtime.GC()
	return LiveNow()
}

// LiveNow is the heap the last collection found live.
func LiveNow() uint64 { return read(liveBytes) }

// Objects is what the heap's objects take now, collected or not.
func Objects() uint64 { return read(objectsBytes) }

// WatchLive samples the live heap every millisecond until the test ends;
// the function it returns is the highest seen so far.
func WatchLive(t testing.TB) func() uint64 {
	stop, peak := sample(liveBytes)
	t.Cleanup(func() { stop() })
	return func() uint64 { return max(peak(), LiveNow()) }
}

// Peak runs fn while sampling the heap's objects every millisecond and
// returns the highest sample; an error from fn fails the test.
func Peak(t testing.TB, fn func() error) uint64 {
	t.Helper()
	stop := Start()
	err := fn()
	peak := stop()
	if err != nil {
		t.Fatal(err)
	}
	return peak
}

// Start samples the heap's objects every millisecond until stop is
// called, which returns the highest sample, the heap as it stops included
// (what is still held between two ticks).
func Start() (stop func() uint64) {
	end, peak := sample(objectsBytes)
	return func() uint64 {
		last := Objects()
		end()
		return max(peak(), last)
	}
}

// sample reads the metric name every millisecond until stop is called;
// peak is the highest reading so far.
func sample(name string) (stop func(), peak func() uint64) {
	var mu sync.Mutex
	var highest uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		s := []metrics.Sample{{Name: name}}
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(s)
			mu.Lock()
			highest = max(highest, s[0].Value.Uint64())
			mu.Unlock()
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	stop = sync.OnceFunc(func() { close(done); wg.Wait() })
	peak = func() uint64 {
		mu.Lock()
		defer mu.Unlock()
		return highest
	}
	return stop, peak
}
