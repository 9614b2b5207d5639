package graders

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/selfevals/selfevals/repo"
)

// Compiled regexes and schemas, keyed by their source text. Cases of one
// dataset repeat the same few patterns and schemas thousands of times, and
// compiling is far slower than matching. Both caches only grow by distinct
// patterns, which the datasets bound.
var (
	regexps sync.Map // pattern → compiled[*regexp.Regexp]
	schemas sync.Map // schema bytes → compiled[*jsonschema.Schema]
)

// compiled is a cache entry; a pattern that does not compile is cached too,
// so a bad case costs one compile, not one per trace.
type compiled[T any] struct {
	v   T
	err error
}

func compileRegexp(pattern string) (*regexp.Regexp, error) {
	if e, ok := regexps.Load(pattern); ok {
		c := e.(compiled[*regexp.Regexp])
		return c.v, c.err
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		err = errors.New(strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	regexps.Store(pattern, compiled[*regexp.Regexp]{re, err})
	return re, err
}

// schemaURL names the one resource each schema compiler holds.
const schemaURL = "mem:///expected/output_schema.json"

func compileSchema(raw []byte) (*jsonschema.Schema, error) {
	if e, ok := schemas.Load(string(raw)); ok {
		c := e.(compiled[*jsonschema.Schema])
		return c.v, c.err
	}
	s, err := newSchema(raw)
	schemas.Store(string(raw), compiled[*jsonschema.Schema]{s, err})
	return s, err
}

// newSchema compiles a JSON Schema, 2020-12 unless its $schema says
// otherwise. References must stay inside the schema: the default loader
// would read local files named by a dataset, which a shared dataset must not
// be able to do.
func newSchema(raw []byte) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(selfContained{})
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, err
	}
	s, err := c.Compile(schemaURL)
	if err != nil {
		return nil, errors.New(oneLine(err.Error()))
	}
	return s, nil
}

// selfContained refuses every external reference.
type selfContained struct{}

func (selfContained) Load(url string) (any, error) {
	return nil, fmt.Errorf("$ref to %s: output schemas must be self-contained", url)
}

// maxSchemaErrors bounds how many validator messages a reason quotes.
const maxSchemaErrors = 3

// checkSchema validates the agent's JSON answer against schema. An answer
// that is not JSON at all violates any schema.
func checkSchema(schema *jsonschema.Schema, t *repo.Trace) (detail string, ok bool) {
	raw, present := actualJSON(t)
	if !present {
		return "expected JSON output, got none", false
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return "output is not JSON: " + err.Error(), false
	}
	err = schema.Validate(inst)
	if err == nil {
		return "", true
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return oneLine(err.Error()), false
	}
	var msgs []string
	collectLeaves(ve, func(leaf *jsonschema.ValidationError) {
		msgs = append(msgs, oneLine(leaf.Error()))
	})
	// The validator walks properties in map order; sorting (by location,
	// since messages start with it) keeps reasons stable across runs, so a
	// regrade never reports a flip that is only reordering.
	slices.Sort(msgs)
	if n := len(msgs); n > maxSchemaErrors {
		msgs = append(msgs[:maxSchemaErrors], fmt.Sprintf("… and %d more", n-maxSchemaErrors))
	}
	return strings.Join(msgs, "; "), false
}

// collectLeaves visits the innermost errors of a validation failure: the
// ones that name a value and what is wrong with it ("at '/total': got
// string, want number"), not the "allOf failed" wrappers above them.
func collectLeaves(e *jsonschema.ValidationError, visit func(*jsonschema.ValidationError)) {
	if len(e.Causes) == 0 {
		visit(e)
		return
	}
	for _, c := range e.Causes {
		collectLeaves(c, visit)
	}
}

// oneLine folds a multi-line library message into one reason line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}
