package repo

import (
	"testing"
)

// BenchmarkRequestAppendJSON is the request written for every agent call,
// with parameters encoded once per iteration as the executor does.
func BenchmarkRequestAppendJSON(b *testing.B) {
	thread := "thread-7"
	req := &Request{
		CaseID:     "case_7c1e9a2b3d4e5f60",
		Input:      []byte(`{"messages":[{"role":"user","content":"Where is my refund for order #48213? It's been a week."}]}`),
		Context:    []byte("{\n  \"customer\": \"c_123\",\n  \"tier\": \"gold\"\n}"),
		ParamsJSON: []byte(`{"model":"gpt-4o-mini","temperature":0.2}`),
		Metadata:   RequestMetadata{Experiment: "refunds", Iteration: 3, Repetition: 1, RunID: "run_20250314_092653", ThreadID: &thread},
	}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = req.AppendJSON(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}
