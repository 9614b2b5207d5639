package otlp

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

func start(t *testing.T, opts Options) *Receiver {
	t.Helper()
	if opts.MaxSpans == 0 {
		opts.MaxSpans = 1000
	}
	if opts.MaxBytes == 0 {
		opts.MaxBytes = 1 << 20
	}
	r, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// ids parses a call's traceparent into its trace and parent span IDs.
func ids(t *testing.T, c *Call) (trace, parent []byte) {
	t.Helper()
	parts := strings.Split(c.TraceParent(), "-")
	if len(parts) != 4 || parts[0] != "00" || parts[3] != "01" || len(parts[1]) != 32 || len(parts[2]) != 16 {
		t.Fatalf("traceparent %q is not W3C version 00, sampled", c.TraceParent())
	}
	trace, _ = hex.DecodeString(parts[1])
	parent, _ = hex.DecodeString(parts[2])
	return trace, parent
}

func span(trace, id, parent []byte, name string, attrs ...*commonpb.KeyValue) *tracepb.Span {
	return &tracepb.Span{TraceId: trace, SpanId: id, ParentSpanId: parent, Name: name, Kind: tracepb.Span_SPAN_KIND_INTERNAL,
		StartTimeUnixNano: 1_700_000_000_000_000_000, EndTimeUnixNano: 1_700_000_000_250_000_000, Attributes: attrs}
}

func str(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

func num(k string, v int64) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: v}}}
}

func export(spans ...*tracepb.Span) *tracepb.TracesData {
	return &tracepb.TracesData{ResourceSpans: []*tracepb.ResourceSpans{{ScopeSpans: []*tracepb.ScopeSpans{{Spans: spans}}}}}
}

// post sends body to the receiver and returns the status and answer.
func post(t *testing.T, r *Receiver, contentType, encoding string, body []byte) (int, string) {
	t.Helper()
	if encoding == "gzip" {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(body)
		zw.Close()
		body = buf.Bytes()
	}
	req, _ := http.NewRequest(http.MethodPost, r.Endpoint()+TracesPath, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func postProto(t *testing.T, r *Receiver, encoding string, td *tracepb.TracesData) {
	t.Helper()
	b, err := proto.Marshal(td)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := post(t, r, "application/x-protobuf", encoding, b); code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
}

// Protobuf and JSON, each gzipped or not, reach the call whose trace they
// name, with IDs, parents, kinds, times, status, attributes and events.
func TestReceiverEncodings(t *testing.T) {
	for _, enc := range []string{"protobuf", "protobuf+gzip", "json", "json+gzip"} {
		t.Run(enc, func(t *testing.T) {
			r := start(t, Options{Grace: time.Second})
			c := r.Begin()
			trace, parent := ids(t, c)
			top := span(trace, []byte{1, 1, 1, 1, 1, 1, 1, 1}, parent, "invoke_agent", str("gen_ai.operation.name", "invoke_agent"))
			top.Status = &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: "refused"}
			child := span(trace, []byte{2, 2, 2, 2, 2, 2, 2, 2}, top.SpanId, "chat m", str("gen_ai.operation.name", "chat"), num("gen_ai.usage.input_tokens", 7))
			child.Kind = tracepb.Span_SPAN_KIND_CLIENT
			child.Events = []*tracepb.Span_Event{{Name: "exception", TimeUnixNano: 1_700_000_000_100_000_000, Attributes: []*commonpb.KeyValue{str("exception.message", "boom")}}}
			td := export(child, top)
			encoding := ""
			if strings.HasSuffix(enc, "+gzip") {
				encoding = "gzip"
			}
			if strings.HasPrefix(enc, "json") {
				code, body := post(t, r, "application/json", encoding, []byte(otlpJSON(trace, parent)))
				if code != http.StatusOK || body != "{}" {
					t.Fatalf("status %d: %s", code, body)
				}
			} else {
				postProto(t, r, encoding, td)
			}
			got := r.Finish(context.Background(), c)
			if len(got.Spans) != 2 {
				t.Fatalf("%d spans: %+v", len(got.Spans), got.Spans)
			}
			ch, tp := got.Spans[0], got.Spans[1]
			if tp.Name != "invoke_agent" || tp.ParentID != "" || tp.SpanID != "0101010101010101" || tp.Status != "error" || tp.StatusMessage != "refused" || tp.Kind != "invoke_agent" {
				t.Errorf("top span %+v", tp)
			}
			if ch.ParentID != "0101010101010101" || ch.OTelKind != "client" || ch.Kind != "chat" || ch.DurationMS != 250 || ch.Start != "2023-11-14T22:13:20.000000Z" {
				t.Errorf("child span %+v", ch)
			}
			if string(ch.Attributes) != `{"gen_ai.operation.name":"chat","gen_ai.usage.input_tokens":7}` {
				t.Errorf("child attributes %s", ch.Attributes)
			}
			if len(ch.Events) != 1 || ch.Events[0].Name != "exception" || string(ch.Events[0].Attributes) != `{"exception.message":"boom"}` || ch.Events[0].Time != "2023-11-14T22:13:20.100000Z" {
				t.Errorf("child events %+v", ch.Events)
			}
			if st := r.Stats(); st != (Stats{}) {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// otlpJSON is the same export as OTLP/JSON writes it: hex IDs, camelCase,
// enums as numbers, 64-bit integers as strings.
func otlpJSON(trace, parent []byte) string {
	return fmt.Sprintf(`{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"agent"}}]},
 "scopeSpans":[{"scope":{"name":"test"},"spans":[
  {"traceId":"%[1]s","spanId":"0202020202020202","parentSpanId":"0101010101010101","name":"chat m","kind":3,
   "startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000250000000",
   "attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},{"key":"gen_ai.usage.input_tokens","value":{"intValue":"7"}}],
   "events":[{"timeUnixNano":"1700000000100000000","name":"exception","attributes":[{"key":"exception.message","value":{"stringValue":"boom"}}]}],
   "status":{}},
  {"traceId":"%[1]s","spanId":"0101010101010101","parentSpanId":"%[2]s","name":"invoke_agent","kind":1,
   "startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000250000000",
   "attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"invoke_agent"}}],
   "status":{"code":2,"message":"refused"}}]}]}]}`, hex.EncodeToString(trace), hex.EncodeToString(parent))
}

// What is not an OTLP export is refused with the status the OTLP/HTTP
// specification gives, and counted.
func TestReceiverRefusesWhatIsNotOTLP(t *testing.T) {
	r := start(t, Options{})
	for _, tc := range []struct {
		ctype, encoding, body string
		code                  int
		msg                   string
	}{
		{"text/plain", "", "hi", http.StatusUnsupportedMediaType, "send application/x-protobuf or application/json"},
		{"application/json", "", "{not json", http.StatusBadRequest, "not an OTLP trace export"},
		{"application/json", "", `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}`, http.StatusBadRequest, "traceId: zz is not a hex ID"},
		{"application/x-protobuf", "", "\xff\xff\xff", http.StatusBadRequest, "not an OTLP trace export"},
		{"application/x-protobuf", "br", "x", http.StatusBadRequest, `content encoding "br"`},
	} {
		req, _ := http.NewRequest(http.MethodPost, r.Endpoint()+TracesPath, strings.NewReader(tc.body))
		req.Header.Set("Content-Type", tc.ctype)
		if tc.encoding != "" {
			req.Header.Set("Content-Encoding", tc.encoding)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || !strings.Contains(string(b), tc.msg) {
			t.Errorf("%s %q: %d %s, want %d %s", tc.ctype, tc.body, resp.StatusCode, b, tc.code, tc.msg)
		}
	}
	if got := r.Stats().Rejected; got != 5 {
		t.Errorf("rejected %d, want 5", got)
	}
}

// Spans of a trace no call holds (foreign, or after their call finished)
// are counted and go nowhere.
func TestReceiverUnknownTraces(t *testing.T) {
	r := start(t, Options{Grace: 0})
	c := r.Begin()
	trace, parent := ids(t, c)
	got := r.Finish(context.Background(), c)
	if len(got.Spans) != 0 {
		t.Fatalf("spans before any were sent: %+v", got.Spans)
	}
	other := r.Begin()
	postProto(t, r, "", export(
		span(trace, []byte{1, 2, 3, 4, 5, 6, 7, 8}, parent, "late"),
		span(bytes.Repeat([]byte{9}, 16), []byte{1, 2, 3, 4, 5, 6, 7, 9}, nil, "foreign"),
		span([]byte{1}, []byte{1}, nil, "bad ids"),
	))
	if st := r.Stats(); st.Unknown != 3 {
		t.Errorf("unknown %d, want 3", st.Unknown)
	}
	if got := r.Finish(context.Background(), other); len(got.Spans) != 0 {
		t.Errorf("another call got %+v", got.Spans)
	}
}

// Past max_spans or max_bytes spans are counted, not kept, and the call
// stops waiting.
func TestReceiverCaps(t *testing.T) {
	r := start(t, Options{Grace: time.Minute, MaxSpans: 3, MaxBytes: 1 << 20})
	c := r.Begin()
	trace, _ := ids(t, c)
	var spans []*tracepb.Span
	for i := range 5 {
		// Children of a parent that never comes: only the cap ends the wait.
		spans = append(spans, span(trace, []byte{1, 0, 0, 0, 0, 0, 0, byte(i + 1)}, []byte{7, 7, 7, 7, 7, 7, 7, 7}, "s"))
	}
	postProto(t, r, "", export(spans...))
	begun := time.Now()
	got := r.Finish(context.Background(), c)
	if len(got.Spans) != 3 || got.Dropped != 2 {
		t.Errorf("%d spans kept, %d dropped; want 3 and 2", len(got.Spans), got.Dropped)
	}
	if d := time.Since(begun); d > 10*time.Second {
		t.Errorf("waited %s with the cap reached", d)
	}

	size := proto.Size(spans[0])
	r2 := start(t, Options{Grace: time.Minute, MaxSpans: 100, MaxBytes: int64(2*size + size/2)})
	c2 := r2.Begin()
	trace2, parent2 := ids(t, c2)
	for i := range spans {
		spans[i].TraceId, spans[i].ParentSpanId = trace2, parent2
	}
	postProto(t, r2, "", export(spans...))
	if got := r2.Finish(context.Background(), c2); len(got.Spans) != 2 || got.Dropped != 3 {
		t.Errorf("byte cap: %d spans kept, %d dropped; want 2 and 3", len(got.Spans), got.Dropped)
	}
}

// Finish waits for spans still missing — none yet, or a parent not
// received — until they come or the grace period ends; it does not wait
// when the tree is whole.
func TestReceiverGrace(t *testing.T) {
	r := start(t, Options{Grace: 300 * time.Millisecond})

	// Nothing ever comes: the whole grace period.
	c := r.Begin()
	begun := time.Now()
	r.Finish(context.Background(), c)
	if d := time.Since(begun); d < 300*time.Millisecond {
		t.Errorf("returned after %s with no span, want the grace period", d)
	}

	// A child arrives, then its parent, the top span, while Finish waits.
	c = r.Begin()
	trace, parent := ids(t, c)
	top := []byte{1, 1, 1, 1, 1, 1, 1, 1}
	postProto(t, r, "", export(span(trace, []byte{2, 2, 2, 2, 2, 2, 2, 2}, top, "child")))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		time.Sleep(50 * time.Millisecond)
		postProto(t, r, "", export(span(trace, top, parent, "top")))
	}()
	got := r.Finish(context.Background(), c)
	wg.Wait()
	if len(got.Spans) != 2 {
		t.Errorf("%d spans, want the late top span too", len(got.Spans))
	}

	// A whole tree: no wait at all.
	long := start(t, Options{Grace: time.Hour})
	c = long.Begin()
	trace, parent = ids(t, c)
	postProto(t, long, "", export(span(trace, []byte{2, 2, 2, 2, 2, 2, 2, 2}, top, "child"), span(trace, top, parent, "top")))
	done := make(chan Capture)
	go func() { done <- long.Finish(context.Background(), c) }()
	select {
	case got := <-done:
		if len(got.Spans) != 2 {
			t.Errorf("%d spans", len(got.Spans))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Finish waited although every span had arrived")
	}

	// A cancelled run does not wait either.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c = long.Begin()
	begun = time.Now()
	long.Finish(ctx, c)
	if d := time.Since(begun); d > 10*time.Second {
		t.Errorf("waited %s under a cancelled context", d)
	}
}

// Calls in flight at once each get their own spans, sent in one mixed
// export by many goroutines.
func TestReceiverManyCallsAtOnce(t *testing.T) {
	r := start(t, Options{Grace: 5 * time.Second})
	const n = 64
	calls := make([]*Call, n)
	var spans []*tracepb.Span
	for i := range calls {
		calls[i] = r.Begin()
		trace, parent := ids(t, calls[i])
		spans = append(spans, span(trace, []byte{0, 0, 0, 0, 0, 0, 1, byte(i)}, parent, fmt.Sprint(i)))
	}
	// Several exporters, each with a slice of every call's spans.
	var wg sync.WaitGroup
	for k := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var part []*tracepb.Span
			for i := k; i < n; i += 4 {
				part = append(part, spans[i])
			}
			postProto(t, r, "", export(part...))
		}()
	}
	wg.Wait()
	for i, c := range calls {
		got := r.Finish(context.Background(), c)
		if len(got.Spans) != 1 || got.Spans[0].Name != fmt.Sprint(i) {
			t.Errorf("call %d got %+v", i, got.Spans)
		}
	}
}

// The agent's environment points its SDK at the receiver.
func TestReceiverEnv(t *testing.T) {
	r := start(t, Options{})
	env := strings.Join(r.Env(), "\n")
	for _, want := range []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + r.Endpoint(),
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=" + r.Endpoint() + "/v1/traces",
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
	} {
		if !strings.Contains(env, want) {
			t.Errorf("env lacks %s:\n%s", want, env)
		}
	}
	if !strings.HasPrefix(r.Endpoint(), "http://127.0.0.1:") {
		t.Errorf("endpoint %s is not loopback", r.Endpoint())
	}
}
