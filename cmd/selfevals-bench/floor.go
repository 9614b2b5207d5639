package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// floorBody is the fixed request of the floor rows, about the size of a
// workload request.
var floorBody = []byte(`{"case_id":"c1","input":{"text":"ping tok1"},"parameters":{"model_params":{"level":1}},"metadata":{"experiment":"bench","iteration":0,"repetition":0,"thread_id":null}}`)

// floors are the raw floors on this machine at this moment: a plain client
// POSTing a fixed request to the same loopback agent at the same
// parallelism, with no dataset, grading or results. The harness rows are
// read against them (other load on the box moves all rows). There are two
// because selfevals calls HTTP agents with fasthttp, which costs less per
// call than net/http: the net/http floor is what a typical Go client does,
// the fasthttp one what selfevals' own transport does with nothing around
// it.
var floors = []func(cfg config, calls int) (row, error){runFloor, runFloorFasthttp}

// runFloor is the net/http floor.
func runFloor(cfg config, calls int) (row, error) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.parallel, MaxConnsPerHost: cfg.parallel}}
	defer client.CloseIdleConnections()
	wall, err := floorLoop(cfg.parallel, calls, func() error {
		resp, err := client.Post(cfg.url, "application/json", bytes.NewReader(floorBody))
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil
	})
	if err != nil {
		return row{}, fmt.Errorf("floor: %w", err)
	}
	return row{tool: "floor (net/http client)", cfg: cfg, calls: calls, wall: wall}, nil
}

// runFloorFasthttp is the fasthttp floor: one HostClient, a connection per
// call in flight, pooled requests and responses.
func runFloorFasthttp(cfg config, calls int) (row, error) {
	u, err := url.Parse(cfg.url)
	if err != nil {
		return row{}, err
	}
	client := &fasthttp.HostClient{Addr: u.Host, MaxConns: cfg.parallel}
	defer client.CloseIdleConnections()
	wall, err := floorLoop(cfg.parallel, calls, func() error {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI(cfg.url)
		req.Header.SetMethod(fasthttp.MethodPost)
		req.Header.SetContentType("application/json")
		req.SetBodyRaw(floorBody)
		if err := client.Do(req, resp); err != nil {
			return err
		}
		if resp.StatusCode() != http.StatusOK {
			return fmt.Errorf("agent answered HTTP %d", resp.StatusCode())
		}
		return nil
	})
	if err != nil {
		return row{}, fmt.Errorf("fasthttp floor: %w", err)
	}
	return row{tool: "floor (fasthttp client)", cfg: cfg, calls: calls, wall: wall}, nil
}

// floorLoop makes calls calls of post from parallel goroutines.
func floorLoop(parallel, calls int, post func() error) (time.Duration, error) {
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(calls) {
				if err := post(); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		return 0, err
	}
	return time.Since(start), nil
}
