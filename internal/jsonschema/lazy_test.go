package jsonschema

import (
	"strings"
	"sync"
	"testing"
)

// The meta-schemas are compiled on the first Compile, not at init, and a
// schema that breaks its meta-schema is still refused, from many goroutines
// at once (the first of them compiles the meta-schemas, the rest wait).
func TestMetaSchemasCompiledOnFirstUse(t *testing.T) {
	if Draft2020.sch != nil {
		t.Fatal("the 2020-12 meta-schema was compiled before any Compile")
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			c := NewCompiler()
			if err := c.AddResource("bad.json", map[string]any{"type": 5.0}); err != nil {
				errs[i] = err
				return
			}
			_, errs[i] = c.Compile("bad.json")
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "type") {
			t.Fatalf("compiling {\"type\": 5}: got %v, want a meta-schema error about type", err)
		}
	}
	if Draft2020.sch == nil || Draft2020.allVocabs["core"] == nil || Draft4.sch == nil {
		t.Fatal("meta-schemas not compiled after Compile")
	}
	c := NewCompiler()
	if err := c.AddResource("ok.json", map[string]any{"type": "string"}); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("ok.json")
	if err != nil {
		t.Fatal(err)
	}
	if sch.Validate("x") != nil || sch.Validate(1.0) == nil {
		t.Fatal(`{"type": "string"}: want "x" valid and 1 invalid`)
	}
}
