// Package adapters reaches agents: it sends the agent protocol's request (a
// JSON object: input, parameters, metadata; repo.Request) by subprocess,
// long-lived worker, HTTP, an OpenAI-compatible
// endpoint or a built-in agent, and turns what comes back into a response.
package adapters

import (
	"context"
	"time"

	"github.com/selfevals/selfevals/repo"
)

// Adapter calls an agent once. Timeouts and cancellation come from ctx.
//
// A returned error means the call failed (the agent could not be reached, it
// crashed, it hung, it answered something that is not the protocol); it is a
// *CallError carrying the kind (repo.ErrTimeout, …), whether it is worth
// retrying, and an excerpt of stderr when there is one. An agent that answers
// {"error": "..."} is not a failed call: the response carries the error.
type Adapter interface {
	Call(ctx context.Context, req *repo.Request) (repo.Response, error)
	// Close releases long-lived resources (worker processes, connections).
	Close() error
}

// RunScoped is an adapter that needs no context of its own per call: when
// ctx has no deadline it bounds each call by CallTimeout, and Begin hands
// it the context of a whole run of calls, whose cancellation ends every
// call in flight. The executor then derives nothing per call: for a fast
// agent, a timer and two context registrations per call were several per
// cent of a run.
type RunScoped interface {
	Adapter
	CallTimeout() time.Duration
	// Begin starts a run of calls under ctx; end, called once the run's
	// calls have returned, ends it.
	Begin(ctx context.Context) (end func())
}

// CallError is a failed agent call.
type CallError struct {
	Kind      string // repo.ErrTimeout, repo.ErrExit, …
	Msg       string
	Transient bool   // worth retrying (connection errors, 429/5xx, dead worker)
	Stderr    string // excerpt of the agent's stderr, when there is one
	// Partial is what was read before the failure (e.g. a truncated body),
	// kept so the trace shows it.
	Partial string
}

func (e *CallError) Error() string { return e.Msg }
