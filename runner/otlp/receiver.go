// Package otlp receives an agent's OpenTelemetry spans during a run
// (agent.otlp): a loopback OTLP/HTTP receiver for POST /v1/traces, in
// protobuf or JSON, gzipped or not, decoded with the official OTLP types.
// Every agent call gets a trace of its own (Begin hands out its W3C
// traceparent); spans are attached to the call whose trace they belong to,
// whatever the parallelism, and Finish collects them once the call has
// returned, waiting a short grace period for spans still on their way.
// Spans of traces no call holds are counted, never mixed into a case.
package otlp

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/selfevals/selfevals/repo"
)

// Options bound what one call keeps and how long it waits.
type Options struct {
	Grace    time.Duration // wait for missing spans after the call returned
	MaxSpans int           // spans kept per call; more are counted as dropped
	MaxBytes int64         // encoded span bytes kept per call
}

// OptionsOf reads agent.otlp's options, defaults applied.
func OptionsOf(o *repo.OTLP) Options {
	return Options{Grace: o.GraceD(), MaxSpans: o.SpanCap(), MaxBytes: o.ByteCap()}
}

// Receiver is the run's OTLP/HTTP endpoint and the table of calls in
// flight. Its methods are safe for concurrent use.
type Receiver struct {
	opts     Options
	ln       net.Listener
	srv      *http.Server
	served   chan struct{}
	endpoint string

	mu    sync.Mutex
	calls map[[16]byte]*Call

	unknown  atomic.Int64 // spans of traces no call in flight holds
	rejected atomic.Int64 // export requests that could not be read
}

// Start listens on a free loopback port and serves until Close.
func Start(opts Options) (*Receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("agent.otlp: listen on loopback: %w", err)
	}
	r := &Receiver{opts: opts, ln: ln, served: make(chan struct{}), calls: map[[16]byte]*Call{},
		endpoint: "http://" + ln.Addr().String()}
	mux := http.NewServeMux()
	mux.HandleFunc(TracesPath, r.serveTraces)
	r.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(r.served)
		_ = r.srv.Serve(ln) // ends with ErrServerClosed on Close
	}()
	return r, nil
}

// TracesPath is where OTLP/HTTP exporters send spans.
const TracesPath = "/v1/traces"

// Endpoint is the receiver's base URL, http://127.0.0.1:<port>.
func (r *Receiver) Endpoint() string { return r.endpoint }

// Env is what an agent's OpenTelemetry SDK reads to export to the
// receiver. The batch processor's delay is shortened from its 5 s default
// so that a long-lived agent's spans arrive within the grace period; an
// agent.env entry of the same name overrides any of these.
func (r *Receiver) Env() []string {
	return []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + r.endpoint,
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=" + r.endpoint + TracesPath,
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_BSP_SCHEDULE_DELAY=50",
	}
}

// Stats are the receiver's counts over the run.
type Stats struct {
	Unknown  int64 // spans whose trace no call held (late past the grace period, or foreign)
	Rejected int64 // export requests refused as unreadable
}

// Stats returns the counts so far.
func (r *Receiver) Stats() Stats {
	return Stats{Unknown: r.unknown.Load(), Rejected: r.rejected.Load()}
}

// Close stops the receiver; calls still in flight keep what they got.
func (r *Receiver) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := r.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = r.srv.Close()
	}
	<-r.served
	return err
}

// Call is one agent call's trace: its IDs, and the spans received for it.
// All fields past the IDs are guarded by the receiver's mutex.
type Call struct {
	trace  [16]byte
	parent [8]byte // the span the agent's top spans are children of
	tp     string

	spans   []repo.Span
	gen     []genAI
	bytes   int64
	dropped int
	full    bool                 // a cap was reached: nothing more is awaited
	top     bool                 // a span directly under parent arrived
	have    map[[8]byte]struct{} // span IDs received
	wanted  map[[8]byte]struct{} // parents referenced but not received
	wake    chan struct{}        // set while Finish waits; closed when complete
}

// TraceParent is the W3C traceparent header value of the call: version 00,
// its trace ID, the parent span ID, sampled.
func (c *Call) TraceParent() string { return c.tp }

// TraceID is the call's OpenTelemetry trace ID in hex.
func (c *Call) TraceID() string { return hex.EncodeToString(c.trace[:]) }

// complete reports whether waiting is pointless: a top span arrived and
// every parent any span named has arrived too, or a cap was reached.
func (c *Call) complete() bool { return c.full || (c.top && len(c.wanted) == 0) }

// Begin registers a new call with fresh random IDs.
func (r *Receiver) Begin() *Call {
	c := &Call{}
	for c.trace == [16]byte{} {
		putUint64(c.trace[:8], rand.Uint64())
		putUint64(c.trace[8:], rand.Uint64())
	}
	for c.parent == [8]byte{} {
		putUint64(c.parent[:], rand.Uint64())
	}
	b := make([]byte, 0, 55)
	b = append(b, "00-"...)
	b = hex.AppendEncode(b, c.trace[:])
	b = append(b, '-')
	b = hex.AppendEncode(b, c.parent[:])
	b = append(b, "-01"...)
	c.tp = string(b)
	r.mu.Lock()
	r.calls[c.trace] = c
	r.mu.Unlock()
	return c
}

func putUint64(b []byte, v uint64) {
	for i := range 8 {
		b[i] = byte(v >> (56 - 8*i))
	}
}

// Capture is what a call received.
type Capture struct {
	Spans   []repo.Span
	Dropped int // spans past the caps
	gen     []genAI
}

// Finish unregisters the call and returns its spans. When some seem to be
// missing (no top span yet, or a parent not received) it waits for them
// up to the grace period, or until ctx ends; when all arrived it returns
// at once. Spans arriving after Finish count as unknown.
func (r *Receiver) Finish(ctx context.Context, c *Call) Capture {
	r.mu.Lock()
	if !c.complete() && r.opts.Grace > 0 && ctx.Err() == nil {
		wake := make(chan struct{})
		c.wake = wake
		r.mu.Unlock()
		t := time.NewTimer(r.opts.Grace)
		select {
		case <-wake:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		r.mu.Lock()
	}
	delete(r.calls, c.trace)
	out := Capture{Spans: c.spans, Dropped: c.dropped, gen: c.gen}
	c.spans, c.gen, c.have, c.wanted, c.wake = nil, nil, nil, nil, nil
	r.mu.Unlock()
	return out
}

// add files one trace's spans under its call. It holds the lock.
func (r *Receiver) add(trace [16]byte, spans []received) {
	c := r.calls[trace]
	if c == nil {
		r.unknown.Add(int64(len(spans)))
		return
	}
	for i := range spans {
		s := &spans[i]
		if len(c.spans) >= r.opts.MaxSpans || c.bytes+s.size > r.opts.MaxBytes {
			c.dropped++
			c.full = true
			continue
		}
		c.bytes += s.size
		if s.parent == c.parent || s.parent == [8]byte{} {
			c.top = true
			s.span.ParentID = "" // directly under the call
		}
		c.spans = append(c.spans, s.span)
		c.gen = append(c.gen, s.gen)
		c.track(s)
	}
	if c.wake != nil && c.complete() {
		close(c.wake)
		c.wake = nil
	}
}

// track updates which parents are still awaited.
func (c *Call) track(s *received) {
	if c.have == nil {
		c.have, c.wanted = map[[8]byte]struct{}{}, map[[8]byte]struct{}{}
	}
	c.have[s.id] = struct{}{}
	delete(c.wanted, s.id)
	if s.parent != c.parent && s.parent != [8]byte{} {
		if _, ok := c.have[s.parent]; !ok {
			c.wanted[s.parent] = struct{}{}
		}
	}
}
