// A test agent instrumented with the OpenTelemetry JS SDK
// (@opentelemetry/sdk-trace-node), exporting to the OTLP endpoint in
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT with the protobuf exporter
// (exporter-trace-otlp-proto) or, when the input says exporter: json, the
// JSON one (exporter-trace-otlp-http). One request on stdin, one answer on stdout;
// its spans (invoke_agent holding chat and execute_tool, each tagged with
// the case ID) are flushed before it answers, under the TRACEPARENT it was
// given. The answer is only {"output": ...}: the rest comes through spans.
'use strict';
const api = require('@opentelemetry/api');
const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
const { BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');

async function main() {
  let input = '';
  for await (const chunk of process.stdin) input += chunk;
  const req = JSON.parse(input);
  const { OTLPTraceExporter } = req.input.exporter === 'json'
    ? require('@opentelemetry/exporter-trace-otlp-http')
    : require('@opentelemetry/exporter-trace-otlp-proto');

  const provider = new NodeTracerProvider({ spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())] });
  provider.register();
  const parent = api.propagation.extract(api.context.active(), { traceparent: process.env.TRACEPARENT });
  const tracer = api.trace.getTracer('otelagent.js');
  const caseID = { 'test.case_id': req.case_id };
  const tool = req.input.tool || 'lookup';

  const agent = tracer.startSpan('invoke_agent support', { attributes: { ...caseID, 'gen_ai.operation.name': 'invoke_agent' } }, parent);
  const inAgent = api.trace.setSpan(parent, agent);
  const chat = tracer.startSpan('chat gpt-test', {
    kind: api.SpanKind.CLIENT,
    attributes: {
      ...caseID,
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'gpt-test',
      'gen_ai.response.model': 'gpt-test-2025-01-01',
      'gen_ai.usage.input_tokens': req.input.tokens,
      'gen_ai.usage.output_tokens': 2 * req.input.tokens,
    },
  }, inAgent);
  chat.addEvent('gen_ai.choice', { finish_reason: 'tool_calls' });
  chat.end();
  const exec = tracer.startSpan('execute_tool ' + tool, {
    attributes: {
      ...caseID,
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': tool,
      'gen_ai.tool.call.arguments': JSON.stringify({ case: req.case_id }),
    },
  }, inAgent);
  exec.end();
  agent.end();

  await provider.shutdown(); // flushes the batch before answering
  process.stdout.write(JSON.stringify({ output: 'answered ' + req.case_id }) + '\n');
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack || err) + '\n');
  process.exit(1);
});
