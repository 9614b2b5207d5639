package main

import (
	"fmt"
	"os/exec"
)

// runPromptfoo would run promptfoo on the same workload; it is not wired
// yet, so the row says so (the peer numbers live in
// reference/peer-bench.md).
func runPromptfoo(scratch string, cfg config) row {
	r := row{tool: "promptfoo", cfg: cfg, skipped: true}
	if _, err := exec.LookPath("npx"); err != nil {
		r.note = "skipped: npx not found (promptfoo needs Node >= 22)"
		return r
	}
	r.note = fmt.Sprintf("skipped: promptfoo mode not implemented; see reference/peer-bench.md (scratch %s)", scratch)
	return r
}
