package otlp

import (
	"encoding/base64"
	"encoding/hex"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-json"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/selfevals/selfevals/repo"
)

// received is one span as decoded, before it is filed under its call.
type received struct {
	id, parent [8]byte
	size       int64 // encoded size, counted against MaxBytes
	span       repo.Span
	gen        genAI
}

// genAI is what the GenAI semantic conventions say about a span.
type genAI struct {
	op                  string // gen_ai.operation.name
	in, out             int64  // gen_ai.usage.input_tokens / output_tokens
	usage               bool   // either was set
	reqModel, respModel string
	tool                string // gen_ai.tool.name
	toolArgs, toolRes   string // gen_ai.tool.call.arguments / result
}

// ingest converts a request's spans and files them by trace, taking the
// lock once for the whole request.
func (r *Receiver) ingest(td *tracepb.TracesData) {
	groups := map[[16]byte][]received{}
	var invalid int64
	for _, rs := range td.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				if len(sp.GetTraceId()) != 16 || len(sp.GetSpanId()) != 8 {
					invalid++
					continue
				}
				trace := [16]byte(sp.GetTraceId())
				groups[trace] = append(groups[trace], convert(sp))
			}
		}
	}
	r.unknown.Add(invalid)
	r.mu.Lock()
	for trace, spans := range groups {
		r.add(trace, spans)
	}
	r.mu.Unlock()
}

// convert turns an OTLP span into the trace's span.
func convert(sp *tracepb.Span) received {
	rc := received{id: [8]byte(sp.GetSpanId()), size: int64(proto.Size(sp))}
	if len(sp.GetParentSpanId()) == 8 {
		rc.parent = [8]byte(sp.GetParentSpanId())
	}
	s := &rc.span
	s.Name = sp.GetName()
	s.SpanID = hex.EncodeToString(rc.id[:])
	if rc.parent != [8]byte{} {
		s.ParentID = hex.EncodeToString(rc.parent[:])
	}
	s.OTelKind = kindName(sp.GetKind())
	start, end := sp.GetStartTimeUnixNano(), sp.GetEndTimeUnixNano()
	s.Start = formatNanos(start)
	if end > start && start > 0 {
		s.DurationMS = float64(end-start) / 1e6
	}
	switch sp.GetStatus().GetCode() {
	case tracepb.Status_STATUS_CODE_OK:
		s.Status = "ok"
	case tracepb.Status_STATUS_CODE_ERROR:
		s.Status = "error"
	default:
		s.Status = "unset"
	}
	s.StatusMessage = sp.GetStatus().GetMessage()
	attrs := attrMap(sp.GetAttributes())
	rc.gen = genAIOf(attrs, s.Name)
	s.Kind = rc.gen.op
	switch {
	case s.Kind == "" && rc.gen.tool != "":
		s.Kind = "execute_tool"
	case s.Kind == "":
		s.Kind = "span"
	}
	s.Attributes = marshalAttrs(attrs)
	for _, ev := range sp.GetEvents() {
		s.Events = append(s.Events, repo.SpanEvent{Name: ev.GetName(), Time: formatNanos(ev.GetTimeUnixNano()),
			Attributes: marshalAttrs(attrMap(ev.GetAttributes()))})
		if s.Status == "error" && s.StatusMessage == "" && ev.GetName() == "exception" {
			s.StatusMessage, _ = attrMap(ev.GetAttributes())["exception.message"].(string)
		}
	}
	return rc
}

func kindName(k tracepb.Span_SpanKind) string {
	switch k {
	case tracepb.Span_SPAN_KIND_INTERNAL:
		return "internal"
	case tracepb.Span_SPAN_KIND_SERVER:
		return "server"
	case tracepb.Span_SPAN_KIND_CLIENT:
		return "client"
	case tracepb.Span_SPAN_KIND_PRODUCER:
		return "producer"
	case tracepb.Span_SPAN_KIND_CONSUMER:
		return "consumer"
	}
	return ""
}

// formatNanos is RFC 3339 in UTC with microseconds; "" for 0.
func formatNanos(ns uint64) string {
	if ns == 0 || ns > math.MaxInt64 {
		return ""
	}
	return time.Unix(0, int64(ns)).UTC().Format("2006-01-02T15:04:05.000000Z07:00")
}

// attrMap turns attributes into JSON values, keyed by name.
func attrMap(kvs []*commonpb.KeyValue) map[string]any {
	if len(kvs) == 0 {
		return nil
	}
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		if kv.GetKey() != "" {
			m[kv.GetKey()] = anyValue(kv.GetValue())
		}
	}
	return m
}

func anyValue(v *commonpb.AnyValue) any {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_BoolValue:
		return x.BoolValue
	case *commonpb.AnyValue_IntValue:
		return x.IntValue
	case *commonpb.AnyValue_DoubleValue:
		if math.IsNaN(x.DoubleValue) || math.IsInf(x.DoubleValue, 0) {
			return strconv.FormatFloat(x.DoubleValue, 'g', -1, 64) // JSON has no NaN
		}
		return x.DoubleValue
	case *commonpb.AnyValue_BytesValue:
		return base64.StdEncoding.EncodeToString(x.BytesValue)
	case *commonpb.AnyValue_ArrayValue:
		out := make([]any, len(x.ArrayValue.GetValues()))
		for i, e := range x.ArrayValue.GetValues() {
			out[i] = anyValue(e)
		}
		return out
	case *commonpb.AnyValue_KvlistValue:
		m := attrMap(x.KvlistValue.GetValues())
		if m == nil {
			m = map[string]any{}
		}
		return m
	}
	return nil
}

func marshalAttrs(m map[string]any) json.RawMessage {
	if len(m) == 0 {
		return nil
	}
	b, err := json.MarshalWithOption(m, json.DisableHTMLEscape())
	if err != nil {
		return nil
	}
	return b
}

// genAIOf reads the GenAI semantic conventions off a span's attributes
// (the older prompt/completion token names included).
func genAIOf(attrs map[string]any, name string) genAI {
	var g genAI
	g.op, _ = attrs["gen_ai.operation.name"].(string)
	if v, ok := intAttr(attrs, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"); ok {
		g.in, g.usage = v, true
	}
	if v, ok := intAttr(attrs, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"); ok {
		g.out, g.usage = v, true
	}
	g.reqModel, _ = attrs["gen_ai.request.model"].(string)
	g.respModel, _ = attrs["gen_ai.response.model"].(string)
	g.tool, _ = attrs["gen_ai.tool.name"].(string)
	if g.tool == "" && g.op == "execute_tool" {
		// The convention names the span "execute_tool {gen_ai.tool.name}".
		g.tool = strings.TrimSpace(strings.TrimPrefix(name, "execute_tool"))
	}
	g.toolArgs = textAttr(attrs["gen_ai.tool.call.arguments"])
	g.toolRes = textAttr(attrs["gen_ai.tool.call.result"])
	return g
}

func intAttr(attrs map[string]any, keys ...string) (int64, bool) {
	for _, k := range keys {
		switch v := attrs[k].(type) {
		case int64:
			return v, true
		case float64:
			return int64(v), true
		case string:
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				return n, true
			}
		}
	}
	return 0, false
}

// textAttr is a structured attribute as JSON text: strings as written
// (they usually hold JSON already), anything else encoded.
func textAttr(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}
