package canonical

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/goccy/go-json"
)

func TestTransform(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"b":1,"a":[true,null,"x"]}`, `{"a":[true,null,"x"],"b":1}`},
		{`{ "a" : 1.0 , "b": 1e2, "c": -0.0, "d": 0.000001, "e": 1e-7, "f": 1e21 }`, `{"a":1,"b":100,"c":0,"d":0.000001,"e":1e-7,"f":1e+21}`},
		{`"\u00e9\n\u0001"`, "\"é\\n\\u0001\""},
		{`{"z":{"y":2,"x":1}}`, `{"z":{"x":1,"y":2}}`},
		{`123456789012345678`, `123456789012345678`},
	} {
		got, err := Transform([]byte(tc.in))
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if string(got) != tc.want {
			t.Errorf("Transform(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// refTransform is Transform as it was before it read bytes
// directly: a goccy stream decode into any, written back with sorted keys.
// It is the reference the byte-level canonicalizer must match.
func refTransform(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Grow(len(raw))
	if err := refWriteCanonical(&buf, v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func refWriteCanonical(buf *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		if x {
			buf.WriteString("true")
		} else {
			buf.WriteString("false")
		}
	case json.Number:
		s, err := canonicalNumber(string(x))
		if err != nil {
			return err
		}
		buf.WriteString(s)
	case string:
		refWriteCanonicalString(buf, x)
	case []any:
		buf.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := refWriteCanonical(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			refWriteCanonicalString(buf, k)
			buf.WriteByte(':')
			if err := refWriteCanonical(buf, x[k]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	default:
		return fmt.Errorf("canonical JSON: unsupported value of type %T", v)
	}
	return nil
}

func refWriteCanonicalString(buf *bytes.Buffer, s string) {
	buf.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '"':
			buf.WriteString(`\"`)
		case r == '\\':
			buf.WriteString(`\\`)
		case r == '\b':
			buf.WriteString(`\b`)
		case r == '\f':
			buf.WriteString(`\f`)
		case r == '\n':
			buf.WriteString(`\n`)
		case r == '\r':
			buf.WriteString(`\r`)
		case r == '\t':
			buf.WriteString(`\t`)
		case r < 0x20:
			fmt.Fprintf(buf, `\u%04x`, r)
		case r == utf8.RuneError && size == 1:
			buf.WriteString(`\ufffd`)
		default:
			buf.WriteString(s[i : i+size])
		}
		i += size
	}
	buf.WriteByte('"')
}

func refTransformRecovered(in []byte) (out []byte, panicked any, err error) {
	defer func() { panicked = recover() }()
	out, err = refTransform(in)
	return out, nil, err
}

// checkCanonicalAgainstRef fails t when Transform and the reference
// disagree on in. The new code may reject what the reference accepted in
// exactly the places its doc comment names: bytes after the value (then
// the value itself must match), and input whose reading by goccy depended
// on where the input or goccy's buffer ended (a NUL byte, a literal cut
// short at the end).
func checkCanonicalAgainstRef(t *testing.T, in []byte) {
	t.Helper()
	want, refPanic, refErr := refTransformRecovered(in)
	got, err := Transform(in)
	switch {
	case refPanic != nil:
		// goccy's stream decoder panics on some keys with much invalid
		// UTF-8 (it miscounts its buffer when it replaces them): there
		// is no answer to match, only a crash not to repeat.
		t.Logf("reference panicked: %v", refPanic)
	case err == nil && refErr == nil:
		if !bytes.Equal(got, want) {
			t.Fatalf("Transform(%q)\n got %q\nwant %q", in, got, want)
		}
	case err == nil:
		t.Fatalf("Transform(%q) = %q, the reference failed: %v", in, got, refErr)
	case refErr == nil:
		if !strings.HasPrefix(err.Error(), "canonical JSON: ") {
			t.Errorf("error %q does not say canonical JSON", err)
		}
		if prefix, end, perr := canonicalValue(in); perr == nil {
			if len(bytes.TrimLeft(in[end:], " \t\r\n")) == 0 {
				t.Fatalf("Transform(%q) failed (%v) though its value ends the input", in, err)
			}
			if !bytes.Equal(prefix, want) {
				t.Fatalf("Transform(%q): value before the trailing bytes is %q, want %q", in, prefix, want)
			}
			return
		}
		if bytes.IndexByte(in, 0) >= 0 {
			return
		}
		if _, _, spaced := refTransformRecovered(append(in[:len(in):len(in)], ' ')); spaced != nil {
			return // the reference read past the end of the input
		}
		t.Fatalf("Transform(%q) failed (%v), the reference gave %q", in, err, want)
	}
}

var canonicalSeeds = []string{
	`{"b":1,"a":[true,null,"x"]}`,
	`{ "a" : 1.0 , "b": 1e2, "c": -0.0, "d": 0.000001, "e": 1e-7, "f": 1e21 }`,
	`[1e21, -0, 1.0, 1E-7, 12345678901234567890, -12345678901234567890, 123456789012345678, 1234567890123456789, 0.1, 1e-6, 9.999e20, 5e-324, -1e-400, 0, -1]`,
	`[01, -01, 1., -.5, 00, 1.e3, 1e+5, -0.e-0]`,
	`1e400`, `[1e5e5]`, `[-]`, `{"a":1-2}`, `-`,
	`{"z":{"y":2,"x":1},"a":1,"a":2,"A":0,"\u0061":3}`,
	`{"b":1,"a":2,"b":3,"a":4,"c":{"d":1,"d":[1,{"d":2,"c":1}]}}`,
	`{"a":1,"a":{"x":"y"}}`,
	`"\u00e9\n\u0001\b\f\r\t\"\\\/"`,
	`"\ud83d\ude00 \ud800 \udc00 \ud800\u0041 \udbff\udfff \ud800\ud800\udc00"`,
	`{"\ud800":1,"\ufffd":2,"\udc00x":3}`,
	"\"bad \xff utf8 \xe2\x82 \xed\xa0\x80 \xef\xbf\xbd \xc0\xaf\"",
	"{\"\xff\":1,\"\xef\xbf\xbd\":2,\"\xe2\x82\":3}",
	"\"raw\x01control\x1f\x7f\"",
	"{\"k\x01\":\"v\x02\"}",
	`"\uZZZZ \u00g1 \u 12345"`,
	`{null:1,"":2}`,
	`, {"a":1}`,
	`: [1]`,
	" \t\r\n{ \t\r\n\"a\" \t\r\n: \t\r\n[ \t\r\n1 \t\r\n, \t\r\n2 \t\r\n] \t\r\n} \t\r\n",
	`{"a":1} trailing`,
	`1x`,
	`tru`,
	"[tru\x00]",
	"\"a\x00b\"",
	`[1,]`,
	`{"a":1,}`,
	`{"a" 1}`,
	`[1 2]`,
	`{"a":}`,
	``,
	`   `,
	`"unterminated`,
	`"\`,
	`"\x"`,
	`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
	`{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{}}}}}}}}}}}}`,
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	`{"s":"` + strings.Repeat(`ab\"cd\u00e9`, 80) + `","t":[` + strings.Repeat(`1.5,`, 200) + `0]}`,
	`[` + strings.Repeat(`{"z":"\ud800\udc00","y":1},`, 40) + `null]`,
	`{"input":{"messages":[{"role":"user","content":"ping"}]},"expected":{"must_include":["pong"]}}`,
	// Found by fuzzing: the reference panics on a long key of invalid UTF-8.
	`{"` + strings.Repeat("\xc0", 509) + `":1}`,
	`{"p":"` + strings.Repeat("x", 300) + `","k` + strings.Repeat("\xc0", 300) + `é":1,"z":2}`,
}

func TestTransformMatchesReference(t *testing.T) {
	for _, s := range canonicalSeeds {
		checkCanonicalAgainstRef(t, []byte(s))
	}
}

// FuzzTransform compares the byte-level canonicalizer with the goccy
// decode it replaced.
func FuzzTransform(f *testing.F) {
	for _, s := range canonicalSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		checkCanonicalAgainstRef(t, in)
	})
}

func TestTransformStricter(t *testing.T) {
	for _, in := range []string{`{"a":1} x`, `1x`, `tru`, "{\"a\":tru\x00}", `[1]]`} {
		if got, err := Transform([]byte(in)); err == nil {
			t.Errorf("Transform(%q) = %s, want an error", in, got)
		}
	}
	deep := strings.Repeat("[", maxCanonicalDepth+1) + strings.Repeat("]", maxCanonicalDepth+1)
	if _, err := Transform([]byte(deep)); err == nil || !strings.Contains(err.Error(), "nested deeper") {
		t.Errorf("too deep: %v", err)
	}
	if _, err := Transform([]byte(`{"a":[1,2}`)); err == nil || !strings.HasPrefix(err.Error(), "canonical JSON: ") {
		t.Errorf("error %v does not say canonical JSON", err)
	}
}

func BenchmarkRefTransform(b *testing.B) {
	in := []byte(`{"text":"ping tok123","messages":[{"role":"user","content":"hello there"}],"n":12,"x":1.5}`)
	for b.Loop() {
		if _, err := refTransform(in); err != nil {
			b.Fatal(err)
		}
	}
}

func TestMarshal(t *testing.T) {
	got, err := Marshal(map[string]any{"b": []any{1.0, "x"}, "a": struct {
		Z int     `json:"z"`
		Y float64 `json:"y"`
	}{1, 1e21}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"a":{"y":1e+21,"z":1},"b":[1,"x"]}`; string(got) != want {
		t.Errorf("Marshal = %s, want %s", got, want)
	}
	if _, err := Marshal(func() {}); err == nil {
		t.Error("Marshal of a func: no error")
	}
}

// WriteString writes what Transform makes of the same string encoded.
func TestWriteStringMatchesTransform(t *testing.T) {
	pieces := []string{"a", " ", "é", "日本", "🙂", "\u2028", "\ufffd", `"`, `\`, "/", "\n", "\r", "\t", "\b", "\f", "\x00", "\x1f", "\x7f", "<", "&"}
	r := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		var b strings.Builder
		for range r.IntN(20) {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		s := b.String()
		var buf bytes.Buffer
		WriteString(&buf, s)
		encoded, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		want, err := Transform(encoded)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Fatalf("WriteString(%q) = %q, Transform gives %q", s, buf.Bytes(), want)
		}
	}
}

// benchCase is a case's input; benchStringCase one with long texts, keys
// out of order and escapes.
var (
	benchCase       = []byte(`{"text":"ping tok123","messages":[{"role":"user","content":"hello there"}],"n":12,"x":1.5}`)
	benchStringCase = []byte(`{"messages":[{"role":"system","content":"` + strings.Repeat("You are a support agent. Follow the refund policy. ", 12) +
		`"},{"role":"user","content":"` + strings.Repeat(`Where is my refund for \"order #48213\"?\n`, 10) + `"}],"expected":{"must_include":["refund","48213"],"tone":"polite"},"context":{"tier":"gold","customer":"c_123"}}`)
)

func BenchmarkTransform(b *testing.B) {
	for _, bb := range []struct {
		name string
		raw  []byte
	}{{"case", benchCase}, {"strings", benchStringCase}} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bb.raw)))
			for b.Loop() {
				if _, err := Transform(bb.raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
