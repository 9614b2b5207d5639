package jsonwriter

import (
	"bytes"
	stdjson "encoding/json"
	"math"
	"testing"

	"github.com/goccy/go-json"
)

func TestAppendMarshalMatchesGoccy(t *testing.T) {
	values := []any{
		nil, true, false, int64(math.MinInt64), int64(42), 7, "",
		0.0, math.Copysign(0, -1), 1e-7, 1e-6, 1.5e-6, 0.1, 123456789.0, 1e20, 1e21, -1e21,
		math.MaxFloat64, 5e-324, math.NaN(), math.Inf(1),
		"plain", "tab\there \"q\" \\ \x01 \u2028 \u2029 é 😀", "<b>&</b>", "bad \xff utf-8",
		[]any{}, []any{1.0, "x", nil, []any{false}},
		map[string]any{}, map[string]any{"b": 1.0, "a": map[string]any{"z": []any{}, "": nil}, "é": "<"},
		map[string]int{"b": 2, "a": 1}, struct{ A int }{1}, float32(1.1),
	}
	for _, v := range values {
		checkAppendMarshal(t, v)
	}
}

// FuzzAppendMarshalMatchesGoccy decodes JSON documents into plain values
// (as goccy and YAML hand them out) and compares the two writers.
func FuzzAppendMarshalMatchesGoccy(f *testing.F) {
	for _, seed := range []string{
		`{"a":1,"b":[1.5e-7,2e21,-0.0,100000000000000000000],"c":"<&>\u2028"}`,
		`[null,true,"x\ty",{"":{}},[],0.000001,1e-6,123456789012345678901234]`,
		`"\ud800"`, `-0`, `1E400`, `{"k":"\u0000\u001f\u007f"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		var v any
		if stdjson.Unmarshal(doc, &v) != nil { // goccy's decoder trips checkptr under -race on some escapes
			return
		}
		checkAppendMarshal(t, v)
	})
}

func checkAppendMarshal(t *testing.T, v any) {
	t.Helper()
	want, werr := json.Marshal(v)
	got, gerr := AppendMarshal(nil, v)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("%#v: goccy error %v, ours %v", v, werr, gerr)
	}
	if werr == nil && !bytes.Equal(got, want) {
		t.Fatalf("%#v:\n got %s\nwant %s", v, got, want)
	}
}
