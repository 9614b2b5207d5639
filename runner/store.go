package runner

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/goccy/go-json"

	"github.com/selfevals/selfevals/repo"
)

// RunManifest is a run's run.json.
type RunManifest struct {
	RunID            string              `json:"run_id"`
	Experiment       string              `json:"experiment"`
	ExperimentID     string              `json:"experiment_id"`
	DatasetID        string              `json:"dataset_id"`
	AgentFingerprint string              `json:"agent_fingerprint"`
	ToolVersion      string              `json:"tool_version"`
	StartedAt        string              `json:"started_at"`
	EndedAt          string              `json:"ended_at"`
	Terminated       string              `json:"terminated"`
	State            string              `json:"state"`
	Spec             string              `json:"spec"`
	Target           repo.MetricTarget   `json:"target"`
	Guardrails       []repo.MetricTarget `json:"guardrails,omitempty"`
	Confidence       float64             `json:"confidence"`
}

// StoredIteration is an iteration read back from a run directory.
type StoredIteration struct {
	*IterationSummary
	RunDir   string
	Manifest RunManifest
}

// RunDirs lists the run directories under evalsDir/runs (of one experiment
// when slug is set), newest first.
func RunDirs(evalsDir, slug string) ([]string, error) {
	pattern := filepath.Join(evalsDir, "runs", "*", "*", "run.json")
	if slug != "" {
		pattern = filepath.Join(evalsDir, "runs", slug, "*", "run.json")
	}
	matches, err := filepath.Glob(pattern)
	if err != nil {
		return nil, err
	}
	type dated struct {
		dir string
		at  string
	}
	var ds []dated
	for _, m := range matches {
		var man RunManifest
		if b, err := os.ReadFile(m); err == nil && json.Unmarshal(b, &man) == nil {
			ds = append(ds, dated{filepath.Dir(m), man.StartedAt})
		}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i].at > ds[j].at })
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.dir
	}
	return out, nil
}

// FindIteration finds an iteration by ID (itr_…) in the newest run that has
// it, with its per-case outcomes loaded for paired comparison.
func FindIteration(evalsDir, id string) (*StoredIteration, error) {
	dirs, err := RunDirs(evalsDir, "")
	if err != nil {
		return nil, err
	}
	for _, dir := range dirs {
		its, err := readIterations(filepath.Join(dir, "iterations.jsonl"))
		if err != nil {
			continue
		}
		for _, it := range its {
			if it.ID != id {
				continue
			}
			var man RunManifest
			b, err := os.ReadFile(filepath.Join(dir, "run.json"))
			if err != nil {
				return nil, err
			}
			if err := json.Unmarshal(b, &man); err != nil {
				return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "run.json"), err)
			}
			agg := NewAggregator(maxRepetition(dir, it.Index))
			err = ReadResults(filepath.Join(dir, "results.jsonl"), func(r *repo.Result) error {
				if r.Iteration == it.Index {
					agg.Add(r)
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
			it.pairs = agg.Pairs()
			return &StoredIteration{IterationSummary: it, RunDir: dir, Manifest: man}, nil
		}
	}
	return nil, repo.Userf("iteration %s not found in %s", id, filepath.Join(evalsDir, "runs"))
}

// maxRepetition is the number of repetitions an iteration ran, read from
// its results.
func maxRepetition(dir string, index int) int {
	reps := 1
	ReadResults(filepath.Join(dir, "results.jsonl"), func(r *repo.Result) error {
		if r.Iteration == index && r.Repetition+1 > reps {
			reps = r.Repetition + 1
		}
		return nil
	})
	return reps
}

func readIterations(path string) ([]*IterationSummary, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []*IterationSummary
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var it IterationSummary
		if err := json.Unmarshal(line, &it); err != nil {
			continue // a torn last line after a crash
		}
		out = append(out, &it)
	}
	return out, nil
}

// CostPerCall is the mean agent cost per call of the newest run of an
// experiment that reported any cost, with the run directory it came from.
func CostPerCall(evalsDir, slug string) (float64, string, bool) {
	dirs, _ := RunDirs(evalsDir, slug)
	for _, dir := range dirs {
		var total float64
		n := 0
		ReadResults(filepath.Join(dir, "results.jsonl"), func(r *repo.Result) error {
			total += r.CostUSD
			n++
			return nil
		})
		if n > 0 && total > 0 {
			return total / float64(n), dir, true
		}
	}
	return 0, "", false
}
