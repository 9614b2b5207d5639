package repo

import (
	"strconv"

	"github.com/goccy/go-json"

	"github.com/selfevals/selfevals/repo/internal/jsonwriter"
)

// AppendJSON appends the request's JSON (the protocol's shape, with
// "parameters" from ParamsJSON when set) and a newline to dst. It is the
// hot path of every agent call, so it writes the fixed shape by hand and
// only encodes the free-form parts; those go on one line, as the worker
// protocol is one request a line.
func (r *Request) AppendJSON(dst []byte) ([]byte, error) {
	dst = append(dst, `{"case_id":`...)
	dst = jsonwriter.AppendQuoted(dst, r.CaseID)
	dst = append(dst, `,"input":`...)
	dst = jsonwriter.AppendLine(dst, r.Input)
	if len(r.Context) > 0 {
		dst = append(dst, `,"context":`...)
		dst = jsonwriter.AppendLine(dst, r.Context)
	}
	dst = append(dst, `,"parameters":`...)
	if len(r.ParamsJSON) > 0 {
		dst = append(dst, r.ParamsJSON...)
	} else {
		p := r.Parameters
		if p == nil {
			p = Parameters{}
		}
		b, err := json.Marshal(p)
		if err != nil {
			return dst, err
		}
		dst = append(dst, b...)
	}
	m := &r.Metadata
	dst = append(dst, `,"metadata":{"experiment":`...)
	dst = jsonwriter.AppendQuoted(dst, m.Experiment)
	dst = append(dst, `,"iteration":`...)
	dst = strconv.AppendInt(dst, int64(m.Iteration), 10)
	dst = append(dst, `,"repetition":`...)
	dst = strconv.AppendInt(dst, int64(m.Repetition), 10)
	if m.RunID != "" {
		dst = append(dst, `,"run_id":`...)
		dst = jsonwriter.AppendQuoted(dst, m.RunID)
	}
	dst = append(dst, `,"thread_id":`...)
	if m.ThreadID == nil {
		dst = append(dst, "null"...)
	} else {
		dst = jsonwriter.AppendQuoted(dst, *m.ThreadID)
	}
	if m.Taxonomy != nil {
		b, err := json.Marshal(m.Taxonomy)
		if err != nil {
			return dst, err
		}
		dst = append(dst, `,"taxonomy":`...)
		dst = append(dst, b...)
	}
	if m.TraceParent != "" {
		dst = append(dst, `,"traceparent":`...)
		dst = jsonwriter.AppendQuoted(dst, m.TraceParent)
	}
	return append(dst, "}}\n"...), nil
}

// AppendJSON appends the result as one line of results.jsonl, newline
// included: the same bytes as goccy/go-json's Encoder with
// SetEscapeHTML(false), which wrote results files before. Writing a result
// is on the hot path of every agent call, so it is written by hand, a few
// times cheaper; only grade details of types graders do not use go
// through goccy.
//
// Like the Encoder, it fails on a NaN or infinite number and on a
// json.RawMessage that is not valid JSON; dst is then returned unchanged.
func (r *Result) AppendJSON(dst []byte) ([]byte, error) {
	w := jsonwriter.New(dst)
	writeTraceFields(&w, &r.Trace)
	if r.Grades == nil {
		w.Literal(`,"grades":null`)
	} else {
		w.Literal(`,"grades":[`)
		for i := range r.Grades {
			if i > 0 {
				w.Byte(',')
			}
			writeGrade(&w, &r.Grades[i])
		}
		w.Byte(']')
	}
	w.Literal(`,"label":`)
	w.String(string(r.Label))
	w.Literal(`,"score":`)
	w.Float(r.Score)
	w.Literal("}\n")
	if err := w.Err(); err != nil {
		return dst, err
	}
	return w.Bytes(), nil
}

// writeTraceFields opens the object with the Trace's fields (embedded in
// Result). The order and the omitempty rules are the struct's; "usage" is
// always written because goccy ignores omitzero.
func writeTraceFields(w *jsonwriter.Writer, t *Trace) {
	w.Literal(`{"trace_id":`)
	w.String(t.ID)
	w.Literal(`,"case_id":`)
	w.String(t.CaseID)
	w.Literal(`,"params_id":`)
	w.String(t.ParamsID)
	w.Literal(`,"iteration":`)
	w.Int(int64(t.Iteration))
	w.Literal(`,"repetition":`)
	w.Int(int64(t.Repetition))
	w.OptString(`,"output":`, t.Output)
	w.OptRaw(`,"structured_output":`, t.StructuredOutput)
	if len(t.ToolCalls) > 0 {
		w.Literal(`,"tool_calls":[`)
		for i := range t.ToolCalls {
			if i > 0 {
				w.Byte(',')
			}
			writeToolCall(w, &t.ToolCalls[i])
		}
		w.Byte(']')
	}
	if len(t.Spans) > 0 {
		w.Literal(`,"spans":[`)
		for i := range t.Spans {
			if i > 0 {
				w.Byte(',')
			}
			writeSpan(w, &t.Spans[i])
		}
		w.Byte(']')
	}
	if t.SpansDropped != 0 {
		w.Literal(`,"spans_dropped":`)
		w.Int(int64(t.SpansDropped))
	}
	writeUsage(w, t.Usage)
	w.OptFloat(`,"cost_usd":`, t.CostUSD)
	if t.CostReported {
		w.Literal(`,"cost_reported":true`)
	}
	w.OptString(`,"model":`, t.Model)
	w.OptString(`,"started_at":`, t.StartedAt)
	w.Literal(`,"latency_ms":`)
	w.Float(t.LatencyMS)
	w.OptString(`,"error":`, t.Error)
	w.OptString(`,"error_kind":`, t.ErrorKind)
	w.OptString(`,"stderr":`, t.Stderr)
	if t.Truncated {
		w.Literal(`,"truncated":true`)
	}
	if t.Attempts != 0 {
		w.Literal(`,"attempts":`)
		w.Int(int64(t.Attempts))
	}
	if t.Cached {
		w.Literal(`,"cached":true`)
	}
}

func writeToolCall(w *jsonwriter.Writer, c *ToolCall) {
	w.Literal(`{"name":`)
	w.String(c.Name)
	w.OptRaw(`,"arguments":`, c.Arguments)
	w.OptRaw(`,"result":`, c.Result)
	w.OptString(`,"error":`, c.Error)
	w.OptFloat(`,"duration_ms":`, c.DurationMS)
	w.Byte('}')
}

func writeSpan(w *jsonwriter.Writer, s *Span) {
	w.Literal(`{"kind":`)
	w.String(s.Kind)
	w.OptString(`,"name":`, s.Name)
	w.OptString(`,"span_id":`, s.SpanID)
	w.OptString(`,"parent_id":`, s.ParentID)
	w.OptString(`,"otel_kind":`, s.OTelKind)
	w.OptString(`,"start":`, s.Start)
	w.OptFloat(`,"duration_ms":`, s.DurationMS)
	w.OptString(`,"status":`, s.Status)
	w.OptString(`,"status_message":`, s.StatusMessage)
	w.OptRaw(`,"attributes":`, s.Attributes)
	if len(s.Events) > 0 {
		w.Literal(`,"events":[`)
		for i := range s.Events {
			if i > 0 {
				w.Byte(',')
			}
			e := &s.Events[i]
			w.Literal(`{"name":`)
			w.String(e.Name)
			w.OptString(`,"time":`, e.Time)
			w.OptRaw(`,"attributes":`, e.Attributes)
			w.Byte('}')
		}
		w.Byte(']')
	}
	w.Byte('}')
}

// writeUsage writes {} when both counts are zero: each field is omitempty.
func writeUsage(w *jsonwriter.Writer, u Usage) {
	w.Literal(`,"usage":{`)
	if u.InputTokens != 0 {
		w.Literal(`"input_tokens":`)
		w.Int(u.InputTokens)
	}
	if u.OutputTokens != 0 {
		if u.InputTokens != 0 {
			w.Byte(',')
		}
		w.Literal(`"output_tokens":`)
		w.Int(u.OutputTokens)
	}
	w.Byte('}')
}

func writeGrade(w *jsonwriter.Writer, g *Grade) {
	w.Literal(`{"grader":`)
	w.String(g.Grader)
	w.Literal(`,"label":`)
	w.String(string(g.Label))
	if g.Score != nil {
		w.Literal(`,"score":`)
		w.Float(*g.Score)
	}
	if g.Confidence != nil {
		w.Literal(`,"confidence":`)
		w.Float(*g.Confidence)
	}
	w.OptString(`,"reason":`, g.Reason)
	if len(g.FailureModes) > 0 {
		w.Literal(`,"failure_modes":`)
		w.Strings(g.FailureModes)
	}
	if len(g.Details) > 0 {
		w.Literal(`,"details":`)
		w.Object(g.Details)
	}
	w.Byte('}')
}
