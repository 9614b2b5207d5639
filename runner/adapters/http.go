package adapters

import (
	"context"
	"time"

	"github.com/selfevals/selfevals/repo"
)

// HTTP POSTs the request to the agent's URL and reads the response from the
// body. 429, 5xx and connection errors are retried (see poster).
type HTTP struct {
	post *poster
	desc string
}

func newHTTP(agent repo.Agent, opts Options) (*HTTP, error) {
	p, err := newPoster(agent.HTTP.URL, agent.HTTP.Headers, "agent.http", agent, opts)
	if err != nil {
		return nil, err
	}
	return &HTTP{post: p, desc: Describe(agent)}, nil
}

// String describes the agent without secrets.
func (h *HTTP) String() string { return h.desc }

// Call POSTs one request, within ctx's deadline or else the adapter's
// timeout.
func (h *HTTP) Call(ctx context.Context, req *repo.Request) (repo.Response, error) {
	start := time.Now()
	info := callInfoFrom(ctx)
	if info != nil {
		*info = CallInfo{}
	}
	payload, err := encodeRequest(req)
	if err != nil {
		return repo.Response{}, err
	}
	b, cerr := h.post.post(ctx, payload.Bytes(), req.Metadata.TraceParent, start, info)
	payload.release() // post copied it
	if cerr != nil {
		return repo.Response{}, cerr
	}
	defer b.release()
	return ParseResponse(b.b)
}

// Close drops idle connections.
func (h *HTTP) Close() error {
	h.post.client.CloseIdleConnections()
	return nil
}

// CallTimeout and Begin make HTTP a RunScoped adapter.
func (h *HTTP) CallTimeout() time.Duration             { return h.post.timeout }
func (h *HTTP) Begin(ctx context.Context) (end func()) { return h.post.begin(ctx) }

var _ RunScoped = (*HTTP)(nil)
