// countagent is a test agent: it appends one line per call to $COUNT_FILE,
// sleeps $SLEEP_MS, and answers "pong" when model_params.level >= 0.5.
package main

import (
	"encoding/json"
	"os"
	"strconv"
	"time"
)

func main() {
	var req struct {
		CaseID     string `json:"case_id"`
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
	if req.Parameters.ModelParams.Level >= 0.5 {
		out = "pong"
	}
	json.NewEncoder(os.Stdout).Encode(map[string]any{"output": out, "cost_usd": 0.001})
}
