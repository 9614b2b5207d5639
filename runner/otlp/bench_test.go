package otlp

import (
	"context"
	"testing"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// BenchmarkCallWithSpans is the receiver's share of one call whose agent
// exported an invoke_agent span holding a chat span before answering:
// Begin, filing the decoded export, Finish. Finish does not wait when the
// spans have all arrived, so ns/op stays in microseconds although the
// grace period is a minute.
func BenchmarkCallWithSpans(b *testing.B) {
	r, err := Start(Options{Grace: 60e9, MaxSpans: 1000, MaxBytes: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	top, chat := []byte{1, 1, 1, 1, 1, 1, 1, 1}, []byte{2, 2, 2, 2, 2, 2, 2, 2}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c := r.Begin()
		td := export(
			span(c.trace[:], chat, top, "chat m", str("gen_ai.operation.name", "chat"), num("gen_ai.usage.input_tokens", 7)),
			span(c.trace[:], top, c.parent[:], "invoke_agent", str("gen_ai.operation.name", "invoke_agent")),
		)
		r.ingest(td)
		if got := r.Finish(ctx, c); len(got.Spans) != 2 {
			b.Fatalf("%d spans", len(got.Spans))
		}
	}
}

// BenchmarkDecodeProtobuf is reading one such export off the wire.
func BenchmarkDecodeProtobuf(b *testing.B) {
	trace := make([]byte, 16)
	trace[0] = 1
	body, err := proto.Marshal(export(
		span(trace, []byte{2, 2, 2, 2, 2, 2, 2, 2}, []byte{1, 1, 1, 1, 1, 1, 1, 1}, "chat m", str("gen_ai.operation.name", "chat")),
		span(trace, []byte{1, 1, 1, 1, 1, 1, 1, 1}, []byte{3, 3, 3, 3, 3, 3, 3, 3}, "invoke_agent"),
	))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var td tracepb.TracesData
		if err := proto.Unmarshal(body, &td); err != nil {
			b.Fatal(err)
		}
	}
}
