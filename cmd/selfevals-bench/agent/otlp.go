package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

var (
	tracesEndpoint = os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	exportClient   = &fasthttp.Client{}
)

// exportSpan sends one chat span under traceparent to the run's receiver,
// protobuf-encoded, and waits for its answer. Without a traceparent or an
// endpoint it does nothing.
func exportSpan(traceparent string) error {
	if traceparent == "" || tracesEndpoint == "" {
		return nil
	}
	parts := strings.Split(traceparent, "-")
	if len(parts) != 4 {
		return fmt.Errorf("traceparent %q", traceparent)
	}
	trace, err1 := hex.DecodeString(parts[1])
	parent, err2 := hex.DecodeString(parts[2])
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("traceparent %q: %w", traceparent, err)
	}
	id := make([]byte, 8)
	for i := range id {
		id[i] = byte(rand.Uint32())
	}
	id[0] |= 1 // never all zero
	now := uint64(time.Now().UnixNano())
	str := func(k, v string) *commonpb.KeyValue {
		return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
	}
	num := func(k string, v int64) *commonpb.KeyValue {
		return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: v}}}
	}
	body, err := proto.Marshal(&tracepb.TracesData{ResourceSpans: []*tracepb.ResourceSpans{{ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{
		TraceId: trace, SpanId: id, ParentSpanId: parent, Name: "chat bench", Kind: tracepb.Span_SPAN_KIND_CLIENT,
		StartTimeUnixNano: now - 1000, EndTimeUnixNano: now,
		Attributes: []*commonpb.KeyValue{str("gen_ai.operation.name", "chat"), str("gen_ai.request.model", "bench"),
			num("gen_ai.usage.input_tokens", 3), num("gen_ai.usage.output_tokens", 1)},
	}}}}}}})
	if err != nil {
		return err
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(tracesEndpoint)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/x-protobuf")
	req.SetBody(body)
	if err := exportClient.DoTimeout(req, resp, 10*time.Second); err != nil {
		return fmt.Errorf("export span: %w", err)
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		return fmt.Errorf("export span: HTTP %d: %s", resp.StatusCode(), resp.Body())
	}
	return nil
}
