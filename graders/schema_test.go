package graders

import (
	"strings"
	"testing"
)

func TestCompileSchema(t *testing.T) {
	tests := []struct {
		schema string
		errHas string
	}{
		{schema: `{"type":"object"}`},
		{schema: `true`},
		{schema: `{"$defs": {"id": {"type": "string"}}, "$ref": "#/$defs/id"}`},
		{schema: `{"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"}`},
		{schema: `{"$ref": "https://json-schema.org/draft/2020-12/schema"}`}, // metaschemas are built in
		{schema: `{"type": "objekt"}`, errHas: "is not valid against metaschema"},
		{schema: `{"$ref": "other.json"}`, errHas: "output schemas must be self-contained"},
		{schema: `{"$ref": "https://example.com/s.json"}`, errHas: "output schemas must be self-contained"},
		{schema: `{"type":`, errHas: "not JSON"},
	}
	for _, tt := range tests {
		_, err := compileSchema([]byte(tt.schema))
		switch {
		case tt.errHas == "" && err != nil:
			t.Errorf("compileSchema(%s): %v", tt.schema, err)
		case tt.errHas != "" && (err == nil || !strings.Contains(err.Error(), tt.errHas)):
			t.Errorf("compileSchema(%s) = %v, want an error containing %q", tt.schema, err, tt.errHas)
		case err != nil && strings.Contains(err.Error(), "\n"):
			t.Errorf("compileSchema(%s): multi-line error %q", tt.schema, err)
		}
	}
}

func TestCompiledOnce(t *testing.T) {
	raw := []byte(`{"type":"array","items":{"type":"integer"}}`)
	a, err := compileSchema(raw)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := compileSchema([]byte(string(raw)))
	if a != b {
		t.Error("the same schema was compiled twice")
	}
	r1, _ := compileRegexp(`\d+`)
	r2, _ := compileRegexp(`\d+`)
	if r1 != r2 {
		t.Error("the same regex was compiled twice")
	}
	if _, err := compileRegexp(`(`); err == nil || strings.HasPrefix(err.Error(), "error parsing regexp") {
		t.Errorf("bad regex error %v", err)
	}
}
