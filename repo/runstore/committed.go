package runstore

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/selfevals/selfevals/repo"
)

// WriteResults writes experiment slug's committed result (summary.json and
// cases.jsonl, as repo.EncodeResults renders them) atomically, leaving a
// file untouched when its bytes are already right, so a rerun with the same
// verdicts leaves `git status` clean.
func (s Store) WriteResults(slug string, summary, casesJSONL []byte) error {
	return s.WriteResultsFrom(slug, summary, func(w io.Writer) error {
		_, err := w.Write(casesJSONL)
		return err
	})
}

// WriteResultsFrom is WriteResults with cases.jsonl written by writeCases,
// so a large one is never held in memory.
func (s Store) WriteResultsFrom(slug string, summary []byte, writeCases func(io.Writer) error) error {
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
	if err := writeUnlessSame(s.syncs, s.dir.CaseVerdicts(slug), writeCases); err != nil {
		return err
	}
	if old, err := os.ReadFile(s.dir.Summary(slug)); err == nil && bytes.Equal(old, summary) {
		return nil
	}
	return s.syncs.WriteFileAtomic(s.dir.Summary(slug), summary, 0o644)
}

// writeUnlessSame writes path atomically from write (its fsync left to
// syncs), and leaves it alone when it already held those bytes.
func writeUnlessSame(syncs *repo.Syncs, path string, write func(io.Writer) error) error {
	f, err := syncs.CreateAtomic(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	if err := write(bw); err != nil {
		f.Abort()
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Abort()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if same, _ := sameFiles(f.Name(), path); same {
		f.Abort()
		return nil
	}
	return f.Commit(0o644)
}

// sameFiles reports whether two files hold the same bytes, reading both
// a block at a time.
func sameFiles(a, b string) (bool, error) {
	fa, err := os.Open(a)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	sa, errA := fa.Stat()
	sb, errB := fb.Stat()
	if errA != nil || errB != nil || sa.Size() != sb.Size() {
		return false, errors.Join(errA, errB)
	}
	ba, bb := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, errA := io.ReadFull(fa, ba)
		nb, errB := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		if errA == io.EOF || errA == io.ErrUnexpectedEOF {
			return errB == errA, nil
		}
		if errA != nil || errB != nil {
			return false, errors.Join(errA, errB)
		}
	}
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
