package plainjson

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/goccy/go-json"
)

type inner struct {
	Kind  string `json:"kind"`
	Level int    `json:"level,omitempty"`
}

// record has a field of every type Decode reads, and fields it must leave
// to the general decoder.
type record struct {
	Name     string          `json:"name"`
	On       bool            `json:"on,omitempty"`
	N        int             `json:"n"`
	Tags     []string        `json:"tags,omitempty"`
	Weights  map[string]int  `json:"weights,omitempty"`
	Input    json.RawMessage `json:"input"`
	Inner    inner           `json:"inner"`
	Ptr      *inner          `json:"ptr,omitempty"`
	Untagged string
	Quoted   int     `json:"quoted,string"`
	Skipped  string  `json:"-"`
	Float    float64 `json:"float"`
}

var recordFields = FieldsOf(reflect.TypeFor[record]())

// strict is the general decoder Decode stands in for.
func strict(raw []byte) (record, error) {
	var r record
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(&r)
	if err == nil && dec.More() {
		err = errors.New("extra data after the object")
	}
	return r, err
}

// checkDecode fails t if Decode takes raw and sets other values than the
// general decoder does (or the general decoder refuses raw).
func checkDecode(t *testing.T, raw []byte) bool {
	t.Helper()
	var got record
	if !Decode(raw, reflect.ValueOf(&got).Elem(), recordFields) {
		return false
	}
	want, err := strict(raw)
	if err != nil {
		t.Fatalf("%s: Decode took it, goccy fails: %v", raw, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\nDecode %#v\ngoccy  %#v", raw, got, want)
	}
	return true
}

var plainInputs = []string{
	`{}`,
	` { "name" : "a" } `,
	`{"name":"tab\tin \"quotes\" \\ \/ \b\f\n\r","on":true,"n":-12,"tags":["x","y\n"],"weights":{"a":1,"a":2,"b":-3}}`,
	`{"tags":[],"weights":{},"on":false,"n":0}`,
	`{"input":{"messages":[{"role":"user","content":"héllo \u00e9 \ud83d\ude00"}],"n":1.5e-3,"ok":[true,false,null]}}`,
	"{\"input\": [ 1 ,\n 2 ] ,\"name\":\"x\"}",
	`{"input":"s","inner":{"kind":"k","level":3},"ptr":{"kind":"p"}}`,
	`{"input":0}`, `{"input":-0.5E+10}`, `{"input":"\u0000"}`,
}

var notPlainInputs = []string{
	``, ` `, `[]`, `null`, `{"name":null}`, `{"name":"\u0041"}`, `{"name":"é"}`, `{"name":"a","name":"b"}`,
	`{"unknown":1}`, `{"Untagged":"x"}`, `{"quoted":"1"}`, `{"-":"x"}`, `{"float":1.5}`, `{"n":1.0}`, `{"n":01}`,
	`{"n":-0}`, `{"n":1e2}`, `{"n":99999999999999999999}`, `{"on":1}`, `{"tags":null}`, `{"tags":[1]}`, `{"weights":{"a":1.5}}`,
	`{"input":null}`, `{"input":{"a":}}`, `{"input":01}`, `{"input":"\x"}`, "{\"input\":\"\x01\"}", `{"input":[1,]}`,
	`{"input":tru}`, `{"ptr":null}`, `{"inner":{"kind":"k","other":1}}`, `{"name":"a"} x`, `{"name":"a"}{}`, `{"name":"a",}`,
	`{"name" "a"}`, `{name:"a"}`, `{"input":` + strings.Repeat("[", 1001) + strings.Repeat("]", 1001) + `}`,
}

func TestDecodeTakesPlainJSON(t *testing.T) {
	for _, in := range plainInputs {
		if !checkDecode(t, []byte(in)) {
			t.Errorf("Decode refused plain %s", in)
		}
	}
	deep := `{"input":` + strings.Repeat("[", 1000) + strings.Repeat("]", 1000) + `}`
	if !checkDecode(t, []byte(deep)) {
		t.Error("Decode refused JSON nested 1000 deep")
	}
}

func TestDecodeRefusesTheRest(t *testing.T) {
	for _, in := range notPlainInputs {
		if checkDecode(t, []byte(in)) {
			t.Errorf("Decode took %q", in)
		}
	}
}

func TestFieldsOf(t *testing.T) {
	var names []string
	for name := range recordFields {
		names = append(names, name)
	}
	for _, name := range []string{"name", "on", "n", "tags", "weights", "input", "inner", "ptr", "float"} {
		if _, ok := recordFields[name]; !ok {
			t.Errorf("FieldsOf misses %q (has %v)", name, names)
		}
	}
	for _, name := range []string{"Untagged", "quoted", "-", ""} {
		if _, ok := recordFields[name]; ok {
			t.Errorf("FieldsOf has %q", name)
		}
	}
	if f := recordFields["ptr"]; len(f.fields) != 2 {
		t.Errorf("ptr's fields: %v", f.fields)
	}
}

// FuzzDecode: what Decode takes, it decodes as goccy does.
func FuzzDecode(f *testing.F) {
	for _, in := range append(plainInputs, notPlainInputs...) {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		defer func() {
			// goccy's stream decoder can panic on long runs of invalid
			// UTF-8, which Decode never takes.
			if p := recover(); p != nil && utf8.Valid(raw) {
				panic(p)
			}
		}()
		checkDecode(t, raw)
	})
}

var benchLine = []byte(`{"name":"refund-policy-48213","input":{"messages":[{"role":"user","content":"Where is my refund for order #48213? It has been a week."}]},` +
	`"tags":["refunds","orders"],"inner":{"kind":"final_response","level":2},"n":3,"on":true}`)

func BenchmarkDecode(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchLine)))
	for b.Loop() {
		var r record
		if !Decode(benchLine, reflect.ValueOf(&r).Elem(), recordFields) {
			b.Fatal("not plain")
		}
	}
}

// BenchmarkDecodeGoccy is the general decoder Decode stands in for.
func BenchmarkDecodeGoccy(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchLine)))
	for b.Loop() {
		if _, err := strict(benchLine); err != nil {
			b.Fatal(err)
		}
	}
}
