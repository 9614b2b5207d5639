package repo

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"unicode/utf8"

	"github.com/selfevals/selfevals/repo/internal/jsonwriter"
)

// Check reports the first part of an agent's answer that the run record
// could not hold: text that is not UTF-8, embedded JSON (structured output,
// tool arguments and results, span attributes) that the results writer
// would refuse, or a number JSON cannot spell. Adapters call it where the
// answer arrives, so a malformed answer is that case's error instead of a
// failed write that ends the run. The message names the field in the
// protocol's spelling. It runs on every answer: the happy path allocates
// nothing (field paths are spelled only for a problem).
func (r *Response) Check() error {
	if err := firstErr(checkText("output", r.Output), checkText("error", r.Error), checkText("model", r.Model),
		checkRaw("structured_output", r.StructuredOutput), checkNumber("cost_usd", r.CostUSD)); err != nil {
		return err
	}
	for i := range r.ToolCalls {
		tc := &r.ToolCalls[i]
		if err := firstErr(checkText("name", tc.Name), checkText("error", tc.Error),
			checkRaw("arguments", tc.Arguments), checkRaw("result", tc.Result), checkNumber("duration_ms", tc.DurationMS)); err != nil {
			return within(err, "tool_calls", i)
		}
	}
	for i := range r.Spans {
		if err := checkSpan(&r.Spans[i]); err != nil {
			return within(err, "spans", i)
		}
	}
	return nil
}

// Check applies Response.Check to a recorded trace: what a reader of the
// run record takes must be what its writer could have written.
func (t *Trace) Check() error {
	r := Response{Output: t.Output, StructuredOutput: t.StructuredOutput, ToolCalls: t.ToolCalls, Spans: t.Spans,
		Model: t.Model, Error: t.Error, CostUSD: t.CostUSD}
	return r.Check()
}

func checkSpan(s *Span) error {
	if err := firstErr(checkText("kind", s.Kind), checkText("name", s.Name), checkText("start", s.Start),
		checkText("span_id", s.SpanID), checkText("parent_id", s.ParentID), checkText("otel_kind", s.OTelKind),
		checkText("status", s.Status), checkText("status_message", s.StatusMessage),
		checkRaw("attributes", s.Attributes), checkNumber("duration_ms", s.DurationMS)); err != nil {
		return err
	}
	for j := range s.Events {
		ev := &s.Events[j]
		if err := firstErr(checkText("name", ev.Name), checkText("time", ev.Time), checkRaw("attributes", ev.Attributes)); err != nil {
			return within(err, "events", j)
		}
	}
	return nil
}

// fieldError is a problem with one field of an answer.
type fieldError struct {
	field, msg string
}

func (e *fieldError) Error() string { return fmt.Sprintf("field %q %s", e.field, e.msg) }

// within puts a field error inside list[i]: "name" becomes
// "tool_calls[2].name".
func within(err error, list string, i int) error {
	var fe *fieldError
	if errors.As(err, &fe) {
		fe.field = fmt.Sprintf("%s[%d].%s", list, i, fe.field)
	}
	return err
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// checkText refuses text that is not UTF-8: the JSONL writer would replace
// the bytes and the Parquet writer would store them raw, so the two files
// would disagree and independent readers refuse the second.
func checkText(field, s string) error {
	if utf8.ValidString(s) {
		return nil
	}
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return &fieldError{field, fmt.Sprintf("is not valid UTF-8 (byte %d is 0x%02x); send text as UTF-8", i, s[i])}
			}
		}
	}
	return &fieldError{field, "is not valid UTF-8; send text as UTF-8"}
}

// compactBuffers are scratch space for checkRaw, which only wants to know
// whether the writer would accept the JSON.
var compactBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// checkRaw applies the results writer's own rule for embedded JSON, so
// what passes here is what the writer accepts, plus UTF-8.
func checkRaw(field string, raw []byte) error {
	if len(raw) == 0 {
		return nil
	}
	buf := compactBuffers.Get().(*[]byte)
	out, err := jsonwriter.AppendCompact((*buf)[:0], raw)
	if cap(out) <= 64<<10 {
		*buf = out[:0]
	}
	compactBuffers.Put(buf)
	if err != nil {
		return &fieldError{field, "is not valid JSON: " + err.Error()}
	}
	return checkText(field, string(raw))
}

func checkNumber(field string, f float64) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return &fieldError{field, fmt.Sprintf("is %v, not a number JSON can hold", f)}
	}
	return nil
}
