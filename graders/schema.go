package graders

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/selfevals/selfevals/internal/jsonschema"
	"github.com/selfevals/selfevals/repo"
)

// Compiled regexes, keyed by their source text (schemas are cached by
// repo.CompileSchema). Cases of one
// dataset repeat the same few patterns and schemas thousands of times, and
// compiling is far slower than matching. Both caches only grow by distinct
// patterns, which the datasets bound.
var regexps sync.Map // pattern → compiled[*regexp.Regexp]

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

// compileSchema compiles (once) a case's output_schema; the loader already
// checked it, with the same compiler.
func compileSchema(raw []byte) (*jsonschema.Schema, error) {
	return repo.CompileSchema(raw)
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
