package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// runFloor is the raw floor on this machine at this moment: a plain
// net/http client POSTing a fixed request to the same loopback agent at the
// same parallelism, with no dataset, grading or results. The harness rows
// are read against it (other load on the box moves both).
func runFloor(cfg config, calls int) (row, error) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.parallel, MaxConnsPerHost: cfg.parallel}}
	defer client.CloseIdleConnections()
	body := []byte(`{"case_id":"c1","input":{"text":"ping tok1"},"parameters":{"model_params":{"level":1}},"metadata":{"experiment":"bench","iteration":0,"repetition":0,"thread_id":null}}`)
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range cfg.parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(calls) {
				resp, err := client.Post(cfg.url, "application/json", bytes.NewReader(body))
				if err != nil {
					failed.Store(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		return row{}, fmt.Errorf("floor: %w", err)
	}
	return row{tool: "floor (net/http client)", cfg: cfg, calls: calls, wall: time.Since(start)}, nil
}
