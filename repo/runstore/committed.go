package runstore

import (
	"bytes"
	"os"
	"path/filepath"

	"github.com/selfevals/selfevals/repo"
)

// WriteResults writes experiment slug's committed result (summary.json and
// cases.jsonl, as repo.EncodeResults renders them) atomically, leaving a
// file untouched when its bytes are already right, so a rerun with the same
// verdicts leaves `git status` clean.
func (s Store) WriteResults(slug string, summary, casesJSONL []byte) error {
	// A run killed mid-write left a temporary file beside the result,
	// where `git add evals/` would pick it up; the experiment's lock says
	// no other writer is at work.
	for _, p := range []string{s.dir.Summary(slug), s.dir.CaseVerdicts(slug)} {
		stale, _ := filepath.Glob(filepath.Join(filepath.Dir(p), repo.TempPattern(p)))
		for _, tmp := range stale {
			os.Remove(tmp)
		}
	}
	// summary.json last: it is the pair's commit point. A failure between
	// the two leaves the run failed, and --resume writes both again
	// (selfevals check flags a pair whose case counts disagree).
	for _, f := range []struct {
		path string
		data []byte
	}{{s.dir.CaseVerdicts(slug), casesJSONL}, {s.dir.Summary(slug), summary}} {
		if old, err := os.ReadFile(f.path); err == nil && bytes.Equal(old, f.data) {
			continue
		}
		if err := s.syncs.WriteFileAtomic(f.path, f.data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Summary reads experiment slug's committed summary.json in the working
// tree.
func (s Store) Summary(slug string) (*repo.ResultsSummary, error) {
	b, err := os.ReadFile(s.dir.Summary(slug))
	if err != nil {
		return nil, err
	}
	return repo.ReadSummary(b)
}

// CaseVerdicts reads experiment slug's committed cases.jsonl in the
// working tree.
func (s Store) CaseVerdicts(slug string) ([]repo.CaseVerdict, error) {
	f, err := os.Open(s.dir.CaseVerdicts(slug))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return repo.ReadCaseVerdicts(f, s.dir.CaseVerdicts(slug))
}
