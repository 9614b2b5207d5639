// countagent is a test agent: it appends one line per call to $COUNT_FILE,
// sleeps $SLEEP_MS, and answers "pong" when model_params.level reaches the
// case's input.threshold (default 0.5).
package main

import (
	"encoding/json"
	"os"
	"strconv"
	"time"
)

func main() {
	var req struct {
		CaseID string `json:"case_id"`
		Input  struct {
			Threshold *float64 `json:"threshold"`
		} `json:"input"`
		Parameters struct {
			ModelParams struct {
				Level float64 `json:"level"`
			} `json:"model_params"`
		} `json:"parameters"`
		Metadata struct {
			Iteration  int `json:"iteration"`
			Repetition int `json:"repetition"`
		} `json:"metadata"`
	}
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		os.Exit(3)
	}
	if path := os.Getenv("COUNT_FILE"); path != "" {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err == nil {
			f.WriteString(req.CaseID + " " + strconv.Itoa(req.Metadata.Iteration) + " " + strconv.Itoa(req.Metadata.Repetition) + "\n")
			f.Close()
		}
	}
	if ms, err := strconv.Atoi(os.Getenv("SLEEP_MS")); err == nil {
		time.Sleep(time.Duration(ms) * time.Millisecond)
	}
	out := "miss"
	threshold := 0.5
	if req.Input.Threshold != nil {
		threshold = *req.Input.Threshold
	}
	if req.Parameters.ModelParams.Level >= threshold {
		out = "pong"
	}
	json.NewEncoder(os.Stdout).Encode(map[string]any{"output": out, "cost_usd": 0.001})
}
