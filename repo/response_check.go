package repo

import (
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/selfevals/selfevals/repo/internal/jsonwriter"
)

// Check reports the first part of an agent's answer that the run record
// could not hold: text that is not UTF-8, embedded JSON (structured output,
// tool arguments and results, span attributes) that the results writer
// would refuse, or a number JSON cannot spell. Adapters call it where the
// answer arrives, so a malformed answer is that case's error instead of a
// failed write that ends the run. The message names the field in the
// protocol's spelling.
func (r *Response) Check() error {
	if err := firstErr(checkText("output", r.Output), checkText("error", r.Error), checkText("model", r.Model),
		checkRaw("structured_output", r.StructuredOutput), checkNumber("cost_usd", r.CostUSD)); err != nil {
		return err
	}
	for i := range r.ToolCalls {
		tc := &r.ToolCalls[i]
		at := fmt.Sprintf("tool_calls[%d].", i)
		if err := firstErr(checkText(at+"name", tc.Name), checkText(at+"error", tc.Error),
			checkRaw(at+"arguments", tc.Arguments), checkRaw(at+"result", tc.Result), checkNumber(at+"duration_ms", tc.DurationMS)); err != nil {
			return err
		}
	}
	for i := range r.Spans {
		s := &r.Spans[i]
		at := fmt.Sprintf("spans[%d].", i)
		if err := firstErr(checkText(at+"kind", s.Kind), checkText(at+"name", s.Name), checkText(at+"start", s.Start),
			checkText(at+"span_id", s.SpanID), checkText(at+"parent_id", s.ParentID), checkText(at+"otel_kind", s.OTelKind),
			checkText(at+"status", s.Status), checkText(at+"status_message", s.StatusMessage),
			checkRaw(at+"attributes", s.Attributes), checkNumber(at+"duration_ms", s.DurationMS)); err != nil {
			return err
		}
		for j, ev := range s.Events {
			at := fmt.Sprintf("%sevents[%d].", at, j)
			if err := firstErr(checkText(at+"name", ev.Name), checkText(at+"time", ev.Time), checkRaw(at+"attributes", ev.Attributes)); err != nil {
				return err
			}
		}
	}
	return nil
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
				return fmt.Errorf("field %q is not valid UTF-8 (byte %d is 0x%02x); send text as UTF-8", field, i, s[i])
			}
		}
	}
	return fmt.Errorf("field %q is not valid UTF-8; send text as UTF-8", field) // unreachable: ValidString said otherwise
}

// checkRaw applies the results writer's own rule for embedded JSON, so
// what passes here is what the writer accepts, plus UTF-8.
func checkRaw(field string, raw []byte) error {
	if len(raw) == 0 {
		return nil
	}
	if _, err := jsonwriter.AppendCompact(nil, raw); err != nil {
		return fmt.Errorf("field %q is not valid JSON: %v", field, err)
	}
	return checkText(field, string(raw))
}

func checkNumber(field string, f float64) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("field %q is %v, not a number JSON can hold", field, f)
	}
	return nil
}
