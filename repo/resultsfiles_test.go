package repo

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/goccy/go-json"
)

// cases.jsonl is committed: its hand-written lines must stay the bytes
// goccy wrote, or every rerun would show as a diff.
func TestEncodeResultsCasesMatchGoccy(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	words := []string{"", "plain", `quo"te`, "back\\slash", "tab\tnew\nline", "<html>&", "naïve ☃", "\u2028", "bad\xffutf8", "\x01ctl"}
	pick := func() string { return words[rng.IntN(len(words))] }
	floats := []float64{0, 1, 0.5, 0.333, 1.0 / 3, 1e-7, 123456.789, 2}
	var cases []CaseVerdict
	for i := range 500 {
		v := CaseVerdict{
			CaseID: "case_" + pick() + string(rune('a'+i%26)), Name: pick(), Label: Label(pick()),
			Score: floats[rng.IntN(len(floats))], PassRate: floats[rng.IntN(len(floats))],
			Repetitions: rng.IntN(2000), Reason: pick(),
		}
		switch rng.IntN(3) {
		case 1:
			v.FailureModes = []string{}
		case 2:
			v.FailureModes = []string{pick(), pick()}
		}
		cases = append(cases, v)
	}
	_, got, err := EncodeResults(&ResultsSummary{}, cases)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	ordered := append([]CaseVerdict(nil), cases...)
	sortVerdicts(ordered)
	for i := range ordered {
		b, err := json.MarshalWithOption(&ordered[i], json.DisableHTMLEscape())
		if err != nil {
			t.Fatal(err)
		}
		want.Write(b)
		want.WriteByte('\n')
	}
	if !bytes.Equal(got, want.Bytes()) {
		gl, wl := bytes.Split(got, []byte("\n")), bytes.Split(want.Bytes(), []byte("\n"))
		for i := range min(len(gl), len(wl)) {
			if !bytes.Equal(gl[i], wl[i]) {
				t.Fatalf("line %d:\n got %s\nwant %s", i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("got %d lines, want %d", len(gl), len(wl))
	}
}
