// judge is a test judge speaking the agent protocol on stdin/stdout. It
// appends the agent response it judged to $JUDGE_LOG and answers by that
// response: good (a JSON verdict), fenced (a ```json block), garbage (prose),
// unknown (an unknown label), slow (hangs), anything else (exits 3).
package main

import (
	"encoding/json"
	"os"
	"strings"
	"time"
)

func main() {
	var req struct {
		Input struct {
			Messages []struct{ Content string } `json:"messages"`
		} `json:"input"`
		Context struct {
			Judge  bool   `json:"judge"`
			Grader string `json:"grader"`
		} `json:"context"`
	}
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil || len(req.Input.Messages) != 1 || !req.Context.Judge || req.Context.Grader == "" {
		os.Exit(2)
	}
	_, answer, _ := strings.Cut(req.Input.Messages[0].Content, "Agent response:\n")
	answer, _, _ = strings.Cut(answer, "\n\nReturn a single JSON object")
	answer = strings.TrimSpace(answer)
	if f, err := os.OpenFile(os.Getenv("JUDGE_LOG"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err == nil {
		f.WriteString(answer + "\n")
		f.Close()
	}
	var out string
	switch answer {
	case "good":
		b, _ := json.Marshal(map[string]any{"label": "pass", "reason": "fine", "score": 1, "confidence": 0.9})
		out = string(b)
	case "fenced":
		out = "Verdict:\n```json\n{\"label\": \"FAIL\", \"reason\": \"wrong\"}\n```\n"
	case "garbage":
		out = "I would rather not say."
	case "unknown":
		out = `{"label": "maybe", "reason": "unsure"}`
	case "slow":
		time.Sleep(10 * time.Second)
	default:
		os.Exit(3)
	}
	json.NewEncoder(os.Stdout).Encode(map[string]any{"output": out, "model": "script-judge"})
}
