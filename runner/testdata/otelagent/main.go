// Command otelagent is a test agent instrumented with the OpenTelemetry Go
// SDK, exporting with otlptracehttp (protobuf) to wherever the standard
// OTEL_EXPORTER_OTLP_* variables point. For each request it records an
// invoke_agent span holding a chat span (model and token usage) and an
// execute_tool span, every span tagged with the case ID, and answers only
// {"output": ...}: usage, model and tool calls reach selfevals through the
// spans alone.
//
// With -worker it serves JSON lines and answers before its spans are
// exported (the batch processor sends them shortly after); without, it
// answers one request and flushes its spans before answering.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

type request struct {
	CaseID string `json:"case_id"`
	Input  struct {
		Tokens  int    `json:"tokens"`
		Fail    bool   `json:"fail"`
		Tool    string `json:"tool"`
		Foreign bool   `json:"foreign"` // also a span in a trace of its own
	} `json:"input"`
	Metadata struct {
		TraceParent string `json:"traceparent"`
	} `json:"metadata"`
}

func main() {
	worker := flag.Bool("worker", false, "serve JSON lines")
	flag.Parse()
	ctx := context.Background()
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp))
	tracer := tp.Tracer("otelagent")
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	for in.Scan() {
		var req request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		out := handle(ctx, tracer, &req)
		if !*worker {
			// One call per process: flush, then answer.
			if err := tp.Shutdown(ctx); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		fmt.Println(out)
		if !*worker {
			return
		}
	}
	tp.Shutdown(ctx)
}

// handle records the call's spans under the traceparent selfevals handed
// over: TRACEPARENT for a process per call, the request's metadata for a
// worker.
func handle(ctx context.Context, tracer trace.Tracer, req *request) string {
	tparent := req.Metadata.TraceParent
	if env := os.Getenv("TRACEPARENT"); env != "" {
		if env != tparent {
			return `{"error":"TRACEPARENT and metadata.traceparent differ"}`
		}
	}
	ctx = propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": tparent})
	caseAttr := attribute.String("test.case_id", req.CaseID)
	ctx, agent := tracer.Start(ctx, "invoke_agent support", trace.WithAttributes(caseAttr,
		attribute.String("gen_ai.operation.name", "invoke_agent")))
	_, chat := tracer.Start(ctx, "chat gpt-test", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(caseAttr,
		attribute.String("gen_ai.operation.name", "chat"),
		attribute.String("gen_ai.request.model", "gpt-test"),
		attribute.String("gen_ai.response.model", "gpt-test-2025-01-01"),
		attribute.Int("gen_ai.usage.input_tokens", req.Input.Tokens),
		attribute.Int("gen_ai.usage.output_tokens", 2*req.Input.Tokens)))
	chat.AddEvent("gen_ai.choice", trace.WithAttributes(attribute.String("finish_reason", "tool_calls")))
	chat.End()
	tool := req.Input.Tool
	if tool == "" {
		tool = "lookup"
	}
	_, exec := tracer.Start(ctx, "execute_tool "+tool, trace.WithAttributes(caseAttr,
		attribute.String("gen_ai.operation.name", "execute_tool"),
		attribute.String("gen_ai.tool.name", tool),
		attribute.String("gen_ai.tool.call.arguments", `{"case":"`+req.CaseID+`"}`)))
	exec.End()
	if req.Input.Foreign {
		_, stray := tracer.Start(ctx, "stray", trace.WithNewRoot())
		stray.End()
	}
	if req.Input.Fail {
		agent.SetStatus(codes.Error, "the model refused")
	}
	agent.End()
	b, _ := json.Marshal(map[string]string{"output": "answered " + req.CaseID})
	return string(b)
}
