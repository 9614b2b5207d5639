package runner

// The OpenTelemetry SDK is used by the test agent in testdata/otelagent,
// which go mod tidy does not look into; these imports keep its modules in
// go.mod.
import (
	_ "go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	_ "go.opentelemetry.io/otel/sdk/trace"
)
