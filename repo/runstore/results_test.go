package runstore

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/selfevals/selfevals/repo"
)

func TestResultWriterRoundTripsAndCutsATornLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.jsonl")
	w, err := OpenResultWriterAt(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		r := &repo.Result{Trace: repo.Trace{CaseID: "c" + string(rune('0'+i)), Output: "<b>&</b>"}, Label: repo.Pass, Score: 1}
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if strings.Count(string(data), "\n") != 3 || !strings.Contains(string(data), "<b>&</b>") {
		t.Fatalf("file:\n%s", data)
	}

	// A crash mid-line; reading ignores it, reopening cuts it off.
	os.WriteFile(path, append(data, `{"trace_id":"tr_x","case_`...), 0o644)
	var ids []string
	if err := ReadResults(path, func(r *repo.Result) error { ids = append(ids, r.CaseID); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(ids, ",") != "c0,c1,c2" {
		t.Fatalf("read %v", ids)
	}
	w, err = OpenResultWriterAt(path)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(&repo.Result{Trace: repo.Trace{CaseID: "c3"}, Label: repo.Fail})
	w.Close()
	ids = nil
	if err := ReadResults(path, func(r *repo.Result) error { ids = append(ids, r.CaseID); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(ids, ",") != "c0,c1,c2,c3" {
		t.Fatalf("after resume read %v", ids)
	}
}

func TestResultWriterFlushesWhileOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.jsonl")
	w, err := OpenResultWriterAt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Write(&repo.Result{Trace: repo.Trace{CaseID: "c0"}, Label: repo.Pass})
	deadline := time.Now().Add(2 * time.Second)
	for {
		data, _ := os.ReadFile(path)
		if strings.HasSuffix(string(data), "\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a result stayed in the buffer for 2 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The largest answer a run accepts, in the form that writes longest (text
// of control characters, six bytes each once escaped), reads back: every
// reader of the run record goes through this one.
func TestResultsReaderReadsTheLargestAnswer(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 100 MiB line")
	}
	path := filepath.Join(t.TempDir(), "results.jsonl")
	w, err := OpenResultWriterAt(path)
	if err != nil {
		t.Fatal(err)
	}
	huge := strings.Repeat("\x01", repo.MaxAnswerBytes)
	for _, r := range []*repo.Result{
		{Trace: repo.Trace{CaseID: "big", Output: huge}, Label: repo.Pass},
		{Trace: repo.Trace{CaseID: "after"}, Label: repo.Fail},
	} {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Size() <= repo.MaxLine {
		t.Fatalf("the line is %d bytes: not longer than a hand-written file's bound, so it proves nothing", st.Size())
	}
	var got []string
	err = ReadResults(path, func(r *repo.Result) error {
		got = append(got, r.CaseID)
		if r.CaseID == "big" && r.Output != huge {
			t.Errorf("the big answer came back %d bytes long, want %d", len(r.Output), len(huge))
		}
		return nil
	})
	if err != nil || strings.Join(got, ",") != "big,after" {
		t.Fatalf("read %v: %v", got, err)
	}
}

// Whatever results.jsonl holds, reading it is rows or an error, never a
// panic, and every row read writes back.
func FuzzReadResults(f *testing.F) {
	f.Add([]byte(`{"trace_id":"tr_1","case_id":"c","output":"x","grades":null,"label":"pass","score":1}` + "\n"))
	f.Add([]byte(`{"case_id":"c","structured_output":{"a":[1,2]},"tool_calls":[{"name":"t","arguments":{}}]}` + "\n" + `{"case_`))
	f.Add([]byte("\n\n{}\n[]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "results.jsonl")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		rr := ResultsReader{Path: path, Lenient: true}
		_ = rr.Each(func(r *repo.Result) error {
			if _, err := r.AppendJSON(nil); err != nil {
				t.Fatalf("read a row that does not write back: %v", err)
			}
			return nil
		})
	})
}
