package repo

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// fillValue sets every field of v, recursively, to a value other than
// its zero, so a field the codec drops shows in a comparison.
func fillValue(t *testing.T, v reflect.Value, seed int) {
	t.Helper()
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d-é", seed))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int:
		v.SetInt(int64(-seed - 1))
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte(fmt.Sprintf(`{"k":%d}`, seed)))
			return
		}
		s := reflect.MakeSlice(v.Type(), 2, 2)
		fillValue(t, s.Index(0), seed+1)
		fillValue(t, s.Index(1), seed+2)
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for i := range 3 {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fillValue(t, k, seed+i)
			fillValue(t, e, seed+i)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fillValue(t, p.Elem(), seed)
		v.Set(p)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fillValue(t, v.Field(i), seed*31+i)
			}
		}
	default:
		t.Fatalf("fillValue: no value for kind %s", v.Kind())
	}
}

func TestCaseCodecRoundTrip(t *testing.T) {
	codec := theCaseCodec()
	var full Case
	fillValue(t, reflect.ValueOf(&full).Elem(), 1)
	full.ID, full.Line = "", 0 // the index and the record's header carry them
	empty := Case{Input: []byte{}, Graders: []string{}, FailureWeights: map[string]int{},
		Expected: &Expected{}, Taxonomy: &CaseTaxonomy{Feature: &Feature{}}}
	for name, c := range map[string]Case{"every field set": full, "zero": {}, "empty not nil": empty} {
		b := codec.append(nil, &c)
		var got Case
		if err := codec.decode(b, &got); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("%s: round trip\n got %+v\nwant %+v", name, got, c)
		}
		for cut := range len(b) {
			if err := codec.decode(b[:cut], &Case{}); err == nil {
				t.Fatalf("%s: a record cut to %d of %d bytes decoded", name, cut, len(b))
			}
		}
	}
}

// writeVariedDataset writes n cases that use most of a case's fields,
// with comments and blank lines between, over keptFileBytes when n is
// large enough.
func writeVariedDataset(t testing.TB, path string, n int, word string) {
	t.Helper()
	var sb strings.Builder
	sb.WriteString("// a varied dataset\n")
	for i := range n {
		switch i % 4 {
		case 0:
			fmt.Fprintf(&sb, `{"input":{"text":"%s %d"},"expected":{"must_include":["%s%d"],"regex":"^a+$"}}`+"\n", word, i, word, i)
		case 1:
			fmt.Fprintf(&sb, `{"id":"x%d","name":"case %d","input":"%s"}`+"\n", i, i, word)
		case 2:
			fmt.Fprintf(&sb, `{"id":"t%d","input":[1,2,{"a":"%s"}],"thread_id":"th%d","thread_position":%d,"holdout":true,"failure_weights":{"wrong":%d},"metadata":{"owner":"me","tags":["a","b"]},"taxonomy":{"level":"tool_call","feature":{"primary":"p","secondary":["s"]}},"blocking":{"merge":true}}`+"\n", i, word, i%7, i, i%5)
		default:
			fmt.Fprintf(&sb, "\n"+`{"input":{"q":"%s"},"context":{"doc":%d},"graders":["g"],"expected":{"outcome":"pass","structured_output":{"n":%d}}}`+"\n", word, i, i)
		}
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fileCases decodes every case line of path directly, as the validating
// pass does (without the explicit-id mark, which walks do not carry).
func fileCases(t *testing.T, path string) []Case {
	t.Helper()
	var out []Case
	err := eachCaseLine(osFile(path), func(raw []byte, line int) error {
		c, probs := DecodeCaseJSON(path, line, raw)
		if len(probs) > 0 {
			t.Fatal(probs)
		}
		c.explicitID = false
		out = append(out, *c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func walk(t *testing.T, d *Dataset) []Case {
	t.Helper()
	cases, err := d.Cases()
	if err != nil {
		t.Fatal(err)
	}
	return cases
}

func stateOf(d *Dataset) spillState {
	d.spill.mu.Lock()
	defer d.spill.mu.Unlock()
	return d.spill.state
}

func TestSpilledWalkYieldsTheFilesCases(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	path := filepath.Join(t.TempDir(), "cases.jsonl")
	writeVariedDataset(t, path, 20000, "alpha")
	if st, _ := os.Stat(path); st.Size() <= keptFileBytes {
		t.Fatalf("the dataset is %d bytes, within the kept size", st.Size())
	}
	d, err := LoadDataset(path)
	if err != nil {
		t.Fatal(err)
	}
	want := fileCases(t, path)
	if stateOf(d) != spillNone {
		t.Fatal("loading the dataset spilled it: only a walk should")
	}
	first := walk(t, d)
	if stateOf(d) != spillReady {
		t.Fatal("the first full walk did not leave a spill")
	}
	second := walk(t, d)
	if len(second) != d.Count || !reflect.DeepEqual(first, want) || !reflect.DeepEqual(second, want) {
		t.Fatalf("walks differ from the file: %d, %d and %d cases", len(first), len(second), len(want))
	}
	if left, _ := filepath.Glob(filepath.Join(os.TempDir(), "*")); len(left) > 0 {
		t.Errorf("the spill left files in the temporary directory: %v", left)
	}

	// A shard (a copy of the Dataset) walks the shared spill, filtered.
	view, err := d.Shard(Shard{Index: 2, Count: 3})
	if err != nil {
		t.Fatal(err)
	}
	var inShard []Case
	for _, c := range want {
		if ShardOf(&c, 3) == 2 {
			inShard = append(inShard, c)
		}
	}
	if got := walk(t, view); !reflect.DeepEqual(got, inShard) {
		t.Fatalf("the shard walked %d cases, want %d", len(got), len(inShard))
	}
}

func TestSpillIsWrittenOnlyByACompleteWalk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cases.jsonl")
	writeVariedDataset(t, path, 20000, "beta")
	d, err := LoadDataset(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := d.Each(func(*Case) error {
		if n++; n == 100 {
			return ErrStop
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if stateOf(d) != spillNone {
		t.Fatal("a walk stopped early left a spill of part of the cases")
	}
	boom := errors.New("boom")
	if err := d.Each(func(*Case) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("a failing walk returned %v", err)
	}
	if got, want := walk(t, d), fileCases(t, path); stateOf(d) != spillReady || !reflect.DeepEqual(got, want) {
		t.Fatalf("after two partial walks, a full one: spilled %v, %d cases of %d", stateOf(d) == spillReady, len(got), len(want))
	}
	// Stopping a walk of the spill early is not an error either.
	n = 0
	if err := d.Each(func(*Case) error { n++; return ErrStop }); err != nil || n != 1 {
		t.Fatalf("a spilled walk stopped at once: %v after %d cases", err, n)
	}
}

func TestSpillIsNotUsedOnceTheFileChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cases.jsonl")
	writeVariedDataset(t, path, 20000, "gamma")
	d, err := LoadDataset(path)
	if err != nil {
		t.Fatal(err)
	}
	walk(t, d)
	if stateOf(d) != spillReady {
		t.Fatal("no spill")
	}
	// Same size, other text, a later time: the walk must read the file.
	writeVariedDataset(t, path, 20000, "delta")
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	got := walk(t, d)
	for i := range got {
		got[i].explicitID = false // the validating pass marks them
	}
	want := fileCases(t, path)
	if !reflect.DeepEqual(got, want) || !strings.Contains(string(got[0].Input), "delta") {
		t.Fatalf("after the file changed the walk gave %d cases, the first %s", len(got), got[0].Input)
	}
}

func TestConcurrentWalksShareOneSpill(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cases.jsonl")
	writeVariedDataset(t, path, 20000, "epsilon")
	d, err := LoadDataset(path)
	if err != nil {
		t.Fatal(err)
	}
	want := fileCases(t, path)
	got := make([][]Case, 4)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() {
			cases, err := d.Cases()
			if err != nil {
				t.Error(err)
			}
			got[i] = cases
		})
	}
	wg.Wait()
	for i := range got {
		if !reflect.DeepEqual(got[i], want) {
			t.Fatalf("walk %d of 4 at once gave %d cases, want %d", i, len(got[i]), len(want))
		}
	}
	if stateOf(d) != spillReady {
		t.Fatal("no walk spilled")
	}
}
