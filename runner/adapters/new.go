package adapters

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/selfevals/selfevals/repo"
)

// Options are the run settings an adapter needs.
type Options struct {
	// RepoRoot is the directory a relative command path and workdir resolve
	// against: the experiment's repository root.
	RepoRoot string
	// Parallelism is the number of calls in flight at once (run.parallelism);
	// it sizes the worker pool and the HTTP connection pool.
	Parallelism int
	// Timeout bounds a call whose ctx has no deadline (run.timeout); 60s
	// when zero.
	Timeout time.Duration
	// Retries is how many times a transient HTTP failure (429, 5xx, a
	// connection error) is retried inside one call (run.retries).
	Retries int
	// LookupEnv expands ${NAME} in URLs, headers and env; os.LookupEnv when
	// nil.
	LookupEnv func(string) (string, bool)
	// Environ is the environment a command agent starts with, before its
	// env: block; os.Environ() when nil.
	Environ []string
	// OTLPEnv, set when the run receives the agent's spans (agent.otlp), is
	// added to a command or worker agent's environment (the exporter's
	// endpoint), under its env: block.
	OTLPEnv []string
}

const defaultTimeout = 60 * time.Second

func (o Options) withDefaults() Options {
	if o.Parallelism < 1 {
		o.Parallelism = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = defaultTimeout
	}
	if o.Retries < 0 {
		o.Retries = 0
	}
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	if o.Environ == nil {
		o.Environ = os.Environ()
	}
	if o.RepoRoot == "" {
		o.RepoRoot = "."
	}
	return o
}

// New builds the adapter the agent block selects. Everything that can be
// checked before the first call is checked here (the command exists, ${NAME}
// variables are set, the URL parses), so a bad spec fails once, clearly,
// instead of on every case.
func New(agent repo.Agent, opts Options) (Adapter, error) {
	opts = opts.withDefaults()
	if agent.Entrypoint != "" {
		return nil, &repo.UserError{
			Msg:  "agent.entrypoint (an in-process Python callable) is not supported",
			Hint: "wrap the function in a script and use agent.command, or serve it and use agent.http",
		}
	}
	switch agent.Kind() {
	case "command":
		if agent.Worker {
			return newWorkerPool(agent, opts)
		}
		return newCommand(agent, opts)
	case "http":
		return newHTTP(agent, opts)
	case "openai":
		return newOpenAI(agent, opts)
	case "builtin":
		return NewBuiltin(agent.Builtin)
	}
	return nil, repo.Userf("agent: choose one of command, http, openai or builtin")
}

// Describe is a one-line, secret-free picture of the agent for logs, run
// manifests and fingerprints: it shows ${NAME} templates as written, never
// their values, and header names but not header values.
func Describe(agent repo.Agent) string {
	switch agent.Kind() {
	case "command":
		s := "command " + strings.Join(agent.Command, " ")
		if agent.Worker {
			s += " (worker)"
		}
		return s
	case "http":
		return "http POST " + agent.HTTP.URL + headerNames(agent.HTTP.Headers)
	case "openai":
		return fmt.Sprintf("openai %s/chat/completions model=%s", strings.TrimRight(agent.OpenAI.BaseURL, "/"), agent.OpenAI.Model) + headerNames(agent.OpenAI.Headers)
	case "builtin":
		return "builtin " + agent.Builtin
	}
	return "no agent"
}

func headerNames(h map[string]string) string {
	if len(h) == 0 {
		return ""
	}
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	return " headers=" + strings.Join(names, ",")
}

// CallInfo is what a call observed beside its response, for the trace. The
// Adapter interface stays Call(ctx, req); a caller that wants this puts a
// CallInfo in ctx with WithCallInfo and reads it after Call returns.
type CallInfo struct {
	// Stderr is the tail of the agent's stderr (command adapter, one process
	// per call), also on success. Failed calls carry it in CallError.Stderr
	// too.
	Stderr string
	// Attempts is how many times the request was sent: above 1 when HTTP
	// retries or a worker restart happened.
	Attempts int
}

type callInfoKey struct{}

// WithCallInfo returns a ctx under which adapters fill info. The caller may
// reuse one CallInfo across calls; adapters overwrite its fields.
func WithCallInfo(ctx context.Context, info *CallInfo) context.Context {
	return context.WithValue(ctx, callInfoKey{}, info)
}

func callInfoFrom(ctx context.Context) *CallInfo {
	info, _ := ctx.Value(callInfoKey{}).(*CallInfo)
	return info
}

// withDeadline applies the default timeout when the caller set none.
func withDeadline(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

// ctxError is the CallError for a call ended by ctx: a deadline is a
// timeout, anything else an interruption.
//
// When the call started is not reported: the reason lands in committed
// results, which a rerun must not rewrite.
func ctxError(ctx context.Context, what string, _ time.Time) *CallError {
	if ctx.Err() == context.DeadlineExceeded {
		return timeoutError(what, 0)
	}
	return &CallError{Kind: repo.ErrCanceled, Msg: what + " call was canceled"}
}

// timeoutError says the agent did not answer within the configured timeout
// (none: the caller's deadline). It names the limit, never the time
// measured: the reason lands in committed results, which a rerun must not
// rewrite.
func timeoutError(what string, timeout time.Duration) *CallError {
	limit := "run.timeout"
	if timeout > 0 {
		limit = timeout.String() + " (run.timeout)"
	}
	return &CallError{Kind: repo.ErrTimeout, Msg: fmt.Sprintf("%s did not answer within %s; raise run.timeout if it is just slow", what, limit)}
}
