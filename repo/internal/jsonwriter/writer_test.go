package jsonwriter

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-json"
)

// goccy is what the Writer must match: goccy's encoding with HTML escaping
// off.
func goccy(v any) ([]byte, error) { return json.MarshalWithOption(v, json.DisableHTMLEscape()) }

// Numbers with few decimals take a shortcut; it writes what goccy writes.
func TestAppendFloatMatchesGoccy(t *testing.T) {
	check := func(f float64) {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return
		}
		want, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		var w Writer
		w.Float(f)
		if string(w.Bytes()) != string(want) {
			t.Fatalf("%v (%#x): wrote %s, goccy %s", f, math.Float64bits(f), w.Bytes(), want)
		}
	}
	for x := -100000; x <= 100000; x++ {
		check(float64(x) / 1000)
		check(float64(x) / 100)
	}
	r := rand.New(rand.NewPCG(5, 6))
	for range 200000 {
		check(float64(r.Int64N(4e12)-2e12) / 1000) // both sides of the 1e9 limit
		check(float64(r.Int64N(1e15)) / 1000)
		check(float64(r.Int64N(1e12)) / 1e6)
		check(r.Float64() * 1000)
		check(math.Float64frombits(r.Uint64()))
	}
}

func TestIntMatchesStrconv(t *testing.T) {
	for _, i := range []int64{0, 1, 9, 10, 99, 100, 999, 1000, -1, -999, math.MaxInt64, math.MinInt64} {
		var w Writer
		w.Int(i)
		if want, _ := json.Marshal(i); string(w.Bytes()) != string(want) {
			t.Errorf("Int(%d) wrote %s", i, w.Bytes())
		}
	}
}

// Strings of every kind, invalid UTF-8 included, long enough to cross the
// 8-byte chunks, are written as goccy writes them.
func TestStringMatchesGoccy(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for range 20000 {
		var b strings.Builder
		for range r.IntN(40) {
			if r.IntN(8) == 0 {
				b.WriteString(wildPieces[r.IntN(len(wildPieces))])
			} else {
				b.WriteString(cleanPieces[r.IntN(len(cleanPieces))])
			}
		}
		s := b.String()
		want, err := goccy(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendString([]byte("dst;"), s); string(got) != "dst;"+string(want) {
			t.Fatalf("%q: wrote %q, goccy %q", s, got, want)
		}
		if isPlain(s) && string(want) != `"`+s+`"` {
			t.Fatalf("%q: isPlain, but goccy escapes it", s)
		}
	}
}

// Objects, nested values and the types handed to goccy are written as
// goccy writes them, keys in goccy's order.
func TestObjectMatchesGoccy(t *testing.T) {
	check := func(m map[string]any) {
		t.Helper()
		want, wantErr := goccy(m)
		var w Writer
		w.Object(m)
		if (w.Err() != nil) != (wantErr != nil) {
			t.Fatalf("%#v: error %v, goccy's %v", m, w.Err(), wantErr)
		}
		if wantErr == nil && !bytes.Equal(w.Bytes(), want) {
			t.Fatalf("%#v:\nwrote %s\ngoccy %s", m, w.Bytes(), want)
		}
	}
	check(nil)
	check(map[string]any{})
	check(map[string]any{"a": 1, "a!": 2, "a b": 3, "ab": 4, "": 5, `"q`: 6, "é": 7, "a\x00": 8, "b": 9, "B": 10, "\xff": 11})
	check(map[string]any{
		"ints": []int{1, 2}, "f32": float32(0.1), "raw": json.RawMessage(" [1, 2] "), "ptr": new("p"),
		"struct": struct {
			A int `json:"a"`
		}{1}, "strmap": map[string]string{"b": "1", "a": "<&>"}, "nil slice": []string(nil),
		"nil map": map[string]any(nil), "nil any slice": []any(nil), "dur": time.Second, "i64": int64(-7), "html": "<&>",
	})
	check(map[string]any{"x": math.NaN()})
	check(map[string]any{"x": []any{1.5, math.Inf(1)}})
	g := valueGen{rand.New(rand.NewPCG(11, 12))}
	for range 5000 {
		check(g.object(0))
	}
}

// The first error is the one kept; writing goes on after it.
func TestWriterKeepsFirstError(t *testing.T) {
	w := New([]byte("dst;"))
	w.Float(math.NaN())
	w.OptRaw(`,"r":`, []byte("{bad"))
	w.Literal("end")
	if err := w.Err(); err == nil || err.Error() != "json: unsupported value: NaN" {
		t.Errorf("Err() = %v, want the NaN's", err)
	}
	if got := string(w.Bytes()); got != `dst;,"r":end` {
		t.Errorf("wrote %q", got)
	}
	w = New(nil)
	w.OptRaw(`,"r":`, []byte("{bad"))
	if err := w.Err(); err == nil || !strings.HasPrefix(err.Error(), "json: error calling MarshalJSON for type json.RawMessage: ") || errors.Unwrap(err) == nil {
		t.Errorf("Err() = %v, want goccy's RawMessage error wrapping the syntax error", err)
	}
	w.Fail(errors.New("later"))
	if w.Err().Error() == "later" {
		t.Error("Fail replaced the first error")
	}
}

func TestOptionalFieldsAreOmitEmpty(t *testing.T) {
	w := New(nil)
	w.OptString(`,"s":`, "")
	w.OptFloat(`,"f":`, 0)
	w.OptFloat(`,"f":`, math.Copysign(0, -1))
	w.OptRaw(`,"r":`, nil)
	if len(w.Bytes()) != 0 {
		t.Errorf("empty values wrote %q", w.Bytes())
	}
	w.OptString(`,"s":`, "x")
	w.OptFloat(`,"f":`, 0.5)
	w.OptRaw(`,"r":`, []byte("[ 1 ,\n 2 ]"))
	w.Strings(nil)
	w.Strings([]string{})
	w.Strings([]string{"a", `"`})
	if got := string(w.Bytes()); got != `,"s":"x","f":0.5,"r":[1,2]null[]["a","\""]` {
		t.Errorf("wrote %s", got)
	}
}

// AppendQuoted keeps plain ASCII as it is and otherwise means what
// json.Marshal writes.
func TestAppendQuoted(t *testing.T) {
	for _, s := range []string{"", "plain <b>&</b>", `quo"te`, "back\\slash", "new\nline", "é", "\u2028", "bad\xff", "<é>"} {
		got := AppendQuoted([]byte("dst;"), s)
		want, _ := json.Marshal(s)
		if s == "" || s == "plain <b>&</b>" {
			want = []byte(`"` + s + `"`)
		}
		if string(got) != "dst;"+string(want) {
			t.Errorf("AppendQuoted(%q) = %s, want dst;%s", s, got, want)
		}
	}
}

func TestAppendLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "null"},
		{`{"a": [1, 2]}`, `{"a": [1, 2]}`}, // on one line already: as it is
		{"{\n  \"a\": [1,\r\n 2]\n}", `{"a":[1,2]}`},
		{"{bad\n", "{bad\n"}, // not JSON: left for the reader to refuse
	} {
		if got := AppendLine([]byte("dst;"), []byte(tc.in)); string(got) != "dst;"+tc.want {
			t.Errorf("AppendLine(%q) = %q, want dst;%s", tc.in, got, tc.want)
		}
	}
}

var compactCases = []string{
	"", " ", "null", " 1 ", "01", "-0", "1.", "-.5", "1e400", "1e-400", "1E+5", "-", "--1", "1e", "1e+", "1.e5", "1.5e-07", "1e100", "-12345678901234567890.5e99", "1e-99",
	"123456789012345678901", "0.000000000000000000001", "1-2", "0x10", "1_000", "1234567890123456",
	"true", "tru", "truex", "[true,false,null]", "nul", "\"a\\\"b\"", "\"a\\\"", "\"\x00\"", "\"ctl \x01\t\"", "\"\\u12\"",
	"{}", "{ }", "[ ]", "{\"a\" : 1 , \"b\":[ 1 ,2 ]}", "{\"a\":}", "{\"a\" 1}", "{a:1}", "{\"a\":1,}", "[1,]", "[,1]", "[1 2]",
	"}", "]", "1 2", "1\x00junk", "{\"a\":1}\x00{", "\x00", "[\n\t\r 1\n]", "\"<\u2028>&\"", "{\"a\":[[[[{}]]]]}", "[1,{\"b\":\"c\"}]x",
}

// AppendCompact is goccy's Compact: the same bytes, the same failures.
func TestAppendCompactMatchesGoccy(t *testing.T) {
	for _, raw := range compactCases {
		checkCompact(t, []byte(raw))
	}
	// Random JSON, spaced out and then broken in random places.
	r := rand.New(rand.NewPCG(7, 8))
	g := valueGen{r}
	const alphabet = "{}[]\",:\\ \n\t\x000123456789eE+-.truefalsn"
	for range 20000 {
		raw, err := json.MarshalIndent(g.value(0), "", " ")
		if err != nil {
			t.Fatal(err)
		}
		for n := r.IntN(3); n > 0 && len(raw) > 0; n-- {
			at := r.IntN(len(raw))
			switch c := alphabet[r.IntN(len(alphabet))]; r.IntN(3) {
			case 0:
				raw[at] = c
			case 1:
				raw = append(raw[:at], raw[at+1:]...)
			default:
				raw = append(raw[:at], append([]byte{c}, raw[at:]...)...)
			}
		}
		checkCompact(t, raw)
	}
}

func FuzzAppendCompact(f *testing.F) {
	for _, raw := range compactCases {
		f.Add([]byte(raw))
	}
	f.Fuzz(checkCompact)
}

func checkCompact(t *testing.T, raw []byte) {
	t.Helper()
	var want bytes.Buffer
	wantErr := json.Compact(&want, raw)
	got, err := AppendCompact([]byte("dst;"), raw)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%q: error %v, goccy's %v", raw, err, wantErr)
	}
	if err != nil {
		if string(got) != "dst;" {
			t.Fatalf("%q: failed (%v) but appended %q", raw, err, got)
		}
		return
	}
	if string(got) != "dst;"+want.String() {
		t.Fatalf("%q: compacted to %q, goccy to %q", raw, got, want.Bytes())
	}
}

// valueGen makes random JSON-native values: valid UTF-8, finite numbers.
// It draws the same numbers as the results generator of package repo's
// tests, which it was taken from, so the same seeds give the same values.
type valueGen struct {
	r *rand.Rand
}

func (g valueGen) maybe() bool { return g.r.IntN(2) == 0 }

// Pieces of strings: plain text and each kind of escape; the wild ones are
// invalid UTF-8.
var (
	cleanPieces = []string{"a", "Z", "0", " ", "hello world, ", "é", "日本", "🙂", "\u2028", "\u2029", "\ufffd", "\u202a",
		`"`, `\`, "/", "\n", "\r", "\t", "\b", "\f", "\x00", "\x1f", "\x7f", "<", ">", "&", "!", "tools_invoked"}
	wildPieces = []string{"\xff", "\x80", "\xe2\x80", "\xe2", "\xed\xa0\x80", "\xc0\xaf", "\xf4\x90\x80\x80", "\xf0\x9f\x99"}
)

func (g valueGen) str() string {
	if g.r.IntN(4) == 0 {
		return ""
	}
	var b strings.Builder
	for range g.r.IntN(12) {
		b.WriteString(cleanPieces[g.r.IntN(len(cleanPieces))])
	}
	return b.String()
}

var specialFloats = []float64{0, 1, -1, 0.5, 0.1, 1e20, 1e21, 1e-6, 1e-7, 9.99e-7, 123456789.123, 5e-324, math.MaxFloat64}

func (g valueGen) float() float64 {
	switch g.r.IntN(5) {
	case 0:
		return specialFloats[g.r.IntN(len(specialFloats))]
	case 1:
		f := math.Float64frombits(g.r.Uint64())
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return 0
		}
		return f
	case 2:
		return float64(g.r.Int64N(2e12)-1e12) / 1000 // latencies, scores
	default:
		return g.r.NormFloat64() * math.Pow(10, float64(g.r.IntN(61)-30))
	}
}

func (g valueGen) int() int {
	if g.maybe() {
		return 0
	}
	return g.r.IntN(2001) - 1000
}

func (g valueGen) object(depth int) map[string]any {
	m := map[string]any{}
	encoded := map[string]bool{}
	for range g.r.IntN(11) {
		// goccy writes keys that encode alike (invalid UTF-8 becomes
		// \ufffd) in map order, which is random: keep one of them.
		k := g.key()
		if e := string(AppendString(nil, k)); !encoded[e] {
			encoded[e] = true
			m[k] = g.value(depth + 1)
		}
	}
	return m
}

var mapKeys = []string{"a", "a!", "a b", "ab", "b", "B", "", `"q`, "é", "a\x00", "tools_invoked", "judge_model", "notes", "\u2028"}

func (g valueGen) key() string {
	if g.maybe() {
		return mapKeys[g.r.IntN(len(mapKeys))]
	}
	return g.str()
}

func (g valueGen) value(depth int) any {
	n := 6
	if depth < 3 {
		n = 8
	}
	switch g.r.IntN(n) {
	case 0:
		return nil
	case 1:
		return g.str()
	case 2:
		return g.maybe()
	case 3, 4:
		return g.float()
	case 5:
		return float64(g.int())
	case 6:
		list := make([]any, g.r.IntN(4))
		for i := range list {
			list[i] = g.value(depth + 1)
		}
		return list
	default:
		return g.object(depth)
	}
}
