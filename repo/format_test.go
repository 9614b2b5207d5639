package repo

import (
	"path/filepath"
	"strings"
	"testing"
)

// fmt orders cases by id, else name, and cases with neither in file order:
// editing a case (whose content hash then changes) never moves its line.
func TestFormatDatasetKeepsEditedCasesInPlace(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := strings.Join([]string{
		`{"input":{"text":"unnamed 2"}}`,
		`{"name":"charlie","input":{"text":"c"}}`,
		`{"input":{"text":"unnamed 1"}}`,
		`{"id":"bravo","name":"zulu","input":{"text":"b"}}`,
		`{"name":"alpha","input":{"text":"a"}}`,
	}, "\n") + "\n"
	path := writeFile(t, filepath.Join(dir, "d.jsonl"), src)
	out, err := FormatDataset(path)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		`{"input":{"text":"a"},"name":"alpha"}`,
		`{"id":"bravo","input":{"text":"b"},"name":"zulu"}`,
		`{"input":{"text":"c"},"name":"charlie"}`,
		`{"input":{"text":"unnamed 2"}}`,
		`{"input":{"text":"unnamed 1"}}`,
	}, "\n") + "\n"
	if string(out) != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
	// Edit every case's content: each keeps its line.
	edited := strings.NewReplacer(`"a"}`, `"a, edited"}`, `"b"}`, `"b, edited"}`, `"c"}`, `"c, edited"}`,
		`"unnamed 2"`, `"unnamed 2, edited"`, `"unnamed 1"`, `"unnamed 1, edited"`).Replace(want)
	writeFile(t, path, edited)
	again, err := FormatDataset(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != edited {
		t.Errorf("editing moved cases:\n%s\nwant\n%s", again, edited)
	}
}
