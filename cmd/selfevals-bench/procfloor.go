package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The floors of the process agents: the same agent binary driven by a bare
// loop, with no dataset, grading or results.

// runSpawnFloor is the command agent's floor: an os/exec loop that starts
// the agent once per call, at the same parallelism, the request on stdin.
func runSpawnFloor(cfg config, calls int) (row, error) {
	wall, err := floorLoop(cfg.parallel, calls, func() error {
		cmd := exec.Command(cfg.agentBin)
		cmd.Stdin = bytes.NewReader(floorBody)
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("spawn floor: %w", err)
		}
		if len(out) == 0 {
			return fmt.Errorf("spawn floor: the agent answered nothing")
		}
		return nil
	})
	if err != nil {
		return row{}, err
	}
	return row{tool: "floor (os/exec per call)", cfg: cfg, calls: calls, wall: wall}, nil
}

// runPipeFloor is the worker agent's floor: one long-lived agent process
// per core, each fed request lines by its own goroutine.
func runPipeFloor(cfg config, calls int) (row, error) {
	n := min(runtime.NumCPU(), cfg.parallel)
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	var cmds []*exec.Cmd
	start := time.Now()
	for range n {
		cmd := exec.Command(cfg.agentBin, "-worker")
		in, err := cmd.StdinPipe()
		if err != nil {
			return row{}, err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			return row{}, err
		}
		if err := cmd.Start(); err != nil {
			return row{}, err
		}
		cmds = append(cmds, cmd)
		wg.Go(func() {
			defer in.Close()
			r := bufio.NewReaderSize(out, 64<<10)
			line := append(append([]byte{}, floorBody...), '\n')
			for next.Add(1) <= int64(calls) {
				if _, err := in.Write(line); err != nil {
					failed.Store(err)
					return
				}
				if _, err := r.ReadSlice('\n'); err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	for _, cmd := range cmds {
		cmd.Wait()
	}
	if err, ok := failed.Load().(error); ok {
		return row{}, fmt.Errorf("pipe floor: %w", err)
	}
	return row{tool: fmt.Sprintf("floor (%d workers, bare pipe loop)", n), cfg: cfg, calls: calls, wall: wall}, nil
}
