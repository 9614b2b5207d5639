package adapters

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/selfevals/selfevals/repo"
)

// benchRequest is a typical small request.
func benchRequest() *repo.Request {
	r := request(`{"text":"What is the capital of France?","messages":[{"role":"user","content":"What is the capital of France?"}]}`)
	r.Metadata.Iteration, r.Metadata.RunID = 2, "run_0123456789abcdef"
	return r
}

// BenchmarkHTTP is the adapter against a loopback agent that answers at
// once, with 64 calls in flight (the run.parallelism of the target).
func BenchmarkHTTP(b *testing.B) {
	answer := []byte(`{"output":"Paris","usage":{"input_tokens":12,"output_tokens":1},"model":"loopback"}`)
	length := strconv.Itoa(len(answer))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 2048)
		for {
			if _, err := r.Body.Read(buf); err != nil {
				break
			}
		}
		w.Header()["Content-Type"] = []string{"application/json"}
		w.Header()["Content-Length"] = []string{length}
		w.Write(answer)
	}))
	defer srv.Close()
	const parallelism = 64
	a, err := New(repo.Agent{HTTP: &repo.HTTPAgent{URL: srv.URL + "/agent"}}, Options{Parallelism: parallelism, Retries: 2})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	benchParallel(b, a, parallelism)
}

// BenchmarkWorker is the worker pool against a trivial worker (fixed answer
// per line).
func BenchmarkWorker(b *testing.B) {
	const parallelism = 8
	a, err := New(repo.Agent{Command: []string{agentBin, "-worker", "-const"}, Worker: true}, Options{Parallelism: parallelism})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	benchParallel(b, a, parallelism)
}

// BenchmarkParseResponse is decoding a typical answer.
func BenchmarkParseResponse(b *testing.B) {
	body := []byte(`{"output":"Paris is the capital of France.","tool_calls":[{"name":"search","arguments":{"q":"capital of France"},"duration_ms":12}],"usage":{"input_tokens":812,"output_tokens":95},"cost_usd":0.0031,"model":"gpt"}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := ParseResponse(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckResponse is the boundary check every answer passes
// (UTF-8 and the results writer's JSON rules), next to the parse above.
func BenchmarkCheckResponse(b *testing.B) {
	body := []byte(`{"output":"Paris is the capital of France.","tool_calls":[{"name":"search","arguments":{"q":"capital of France"},"duration_ms":12}],"usage":{"input_tokens":812,"output_tokens":95},"cost_usd":0.0031,"model":"gpt"}`)
	resp, err := ParseResponse(body)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := CheckResponse(&resp); err != nil {
			b.Fatal(err)
		}
	}
}

// benchParallel runs b.N calls with `inflight` of them in flight and
// reports calls/s.
func benchParallel(b *testing.B, a Adapter, inflight int) {
	req := benchRequest()
	// Warm up: start workers, open connections.
	for i := 0; i < inflight; i++ {
		if _, err := a.Call(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.SetParallelism((inflight + 1) / 2) // × GOMAXPROCS goroutines
	start, cpu0 := time.Now(), cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			resp, err := a.Call(ctx, req)
			cancel()
			if err != nil {
				b.Error(err)
				return
			}
			if resp.Output == "" {
				b.Error("empty output")
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
	// CPU per call (this process: client and, for HTTP, the test server)
	// is steadier than calls/s on a box shared with other work.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/call")
}

// cpuTime is the user+system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
