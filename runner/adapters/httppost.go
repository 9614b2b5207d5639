package adapters

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/selfevals/selfevals/repo"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpproxy"
	"golang.org/x/net/http/httpproxy"
)

// Retry timing for transient HTTP failures: exponential backoff with full
// jitter, so many parallel slots hitting the same overloaded agent spread
// out instead of retrying in lockstep.
const (
	backoffBase     = 50 * time.Millisecond
	backoffCap      = 5 * time.Second
	retryAfterLimit = 30 * time.Second
)

// poster POSTs JSON to one URL and returns the 2xx body. It owns the retry
// policy shared by the http and openai adapters.
type poster struct {
	// client is a fasthttp HostClient, not net/http (see newHostClient);
	// it has no context support, so once adds cancellation, closing the
	// connections it tracks in conns.
	client *fasthttp.HostClient
	conns  *connSet
	uri    *fasthttp.URI // expanded, parsed once; copied into each request
	// display is the URL as written in the spec (${NAME} unexpanded, any
	// password redacted): error messages end up in traces, secrets must not.
	display string
	header  []headerField // expanded, Content-Type last; read-only once calls start
	timeout time.Duration // when ctx has no deadline
	retries int
	limit   int64
	what    string       // "agent" or "openai endpoint", for messages
	runs    atomic.Int32 // runs begun and not ended (begin)
	// backoff is the wait before retry n (from 1); a field so tests can
	// shorten it.
	backoff func(n int) time.Duration
}

// headerField is one request header, the name canonical.
type headerField struct{ key, value []byte }

func newPoster(rawURL string, headers map[string]string, field string, agent repo.Agent, opts Options) (*poster, error) {
	opts = opts.withDefaults()
	expanded, err := expand(rawURL, field+".url", opts.LookupEnv)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(expanded)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, repo.Userf("%s.url: %q is not an http:// or https:// URL", field, rawURL)
	}
	uri := &fasthttp.URI{DisablePathNormalizing: true}
	if u.User != nil {
		// Credentials in the URL are not sent (the net/http transport
		// before did not either); a header is the place for them.
		noUser := *u
		noUser.User = nil
		expanded = noUser.String()
	}
	if err := uri.Parse(nil, []byte(expanded)); err != nil {
		return nil, repo.Userf("%s.url: %q is not an http:// or https:// URL", field, rawURL)
	}
	conns := &connSet{live: map[*trackedConn]struct{}{}}
	client, err := newHostClient(u, opts.Parallelism, conns)
	if err != nil {
		return nil, repo.Userf("%s.url: %v", field, err)
	}
	p := &poster{
		client:  client,
		conns:   conns,
		uri:     uri,
		timeout: opts.Timeout,
		retries: opts.Retries,
		limit:   agent.OutputLimit(),
		what:    "agent",
		backoff: fullJitter,
		display: rawURL,
	}
	if du, err := url.Parse(rawURL); err == nil {
		p.display = du.Redacted()
	}
	for k, v := range headers {
		ev, err := expand(v, field+".headers."+k, opts.LookupEnv)
		if err != nil {
			return nil, err
		}
		p.setHeader(k, ev)
	}
	if p.getHeader("Accept") == "" {
		p.setHeader("Accept", "application/json")
	}
	p.setHeader("Content-Type", "application/json")
	return p, nil
}

// setHeader sets a request header (canonical name, one value), keeping
// Content-Type last so no spec header can replace it.
func (p *poster) setHeader(k, v string) {
	k = http.CanonicalHeaderKey(k)
	p.header = slices.DeleteFunc(p.header, func(f headerField) bool { return string(f.key) == k })
	p.header = append(p.header, headerField{[]byte(k), []byte(v)})
	slices.SortStableFunc(p.header, func(a, b headerField) int {
		return cmp.Compare(boolInt(string(a.key) == "Content-Type"), boolInt(string(b.key) == "Content-Type"))
	})
}

func (p *poster) getHeader(k string) string {
	k = http.CanonicalHeaderKey(k)
	for _, f := range p.header {
		if string(f.key) == k {
			return string(f.value)
		}
	}
	return ""
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// newHostClient is one keep-alive connection pool to the URL's host, one
// connection per call in flight.
//
// It is fasthttp (github.com/valyala/fasthttp, a widely used and actively
// maintained library) rather than net/http because the runner must be
// limited by the agent, not by selfevals: on a 2-core box shared with a
// loopback agent, net/http's per-call cost (a reader goroutine per
// connection, header maps, a context per request) held a run to about half
// of what fasthttp's pooled requests, responses and buffers allow.
func newHostClient(u *url.URL, parallelism int, conns *connSet) (*fasthttp.HostClient, error) {
	tls := u.Scheme == "https"
	addr := u.Host
	if u.Port() == "" {
		port := "80"
		if tls {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	c := &fasthttp.HostClient{
		Addr:     addr,
		Name:     "selfevals",
		IsTLS:    tls,
		MaxConns: max(parallelism, 1),
		// More calls than connections wait for one (an abandoned call
		// holds its connection until its deadline); the request deadline
		// bounds the wait.
		MaxConnWaitTimeout: 24 * time.Hour,
		// Shorter than the usual server keep-alive timeouts (uvicorn and
		// Node.js close idle connections after 5s, gunicorn after 2s): a
		// connection the server already closed fails the call it is
		// reused for. fasthttp has no background reader to notice.
		MaxIdleConnDuration: 2 * time.Second,
		// Retries are post's (backoff, Retry-After, counted attempts).
		MaxIdemponentCallAttempts: 1,
		// Headers of answers from hosted endpoints (cookies, tracing) can
		// pass the 4 KiB default read buffer, which bounds the header
		// size; a bigger write buffer sends a long prompt in one write.
		ReadBufferSize:         16 << 10,
		WriteBufferSize:        16 << 10,
		DialDualStack:          true,
		DisablePathNormalizing: true,
		// Bodies are read by once, at most the output cap of them.
		StreamResponseBody:    true,
		SecureErrorLogMessage: true,
		ConnPoolStrategy:      fasthttp.LIFO,
	}
	// Honour HTTP_PROXY, HTTPS_PROXY and NO_PROXY as net/http does (never
	// for loopback): decided once, the URL does not change.
	if proxy, err := http.ProxyFromEnvironment(&http.Request{URL: u}); err == nil && proxy != nil {
		d := &fasthttpproxy.Dialer{
			Config:        httpproxy.Config{HTTPProxy: proxy.String(), HTTPSProxy: proxy.String()},
			Timeout:       10 * time.Second,
			DialDualStack: true,
		}
		dial, err := d.GetDialFuncForTLS(false, tls)
		if err != nil {
			return nil, fmt.Errorf("the proxy from the environment cannot be used: %w", err)
		}
		c.DialTimeout = conns.track(func(addr string, _ time.Duration) (net.Conn, error) { return dial(addr) })
	} else {
		c.DialTimeout = conns.track(func(addr string, timeout time.Duration) (net.Conn, error) {
			if timeout > 0 {
				return fasthttp.DialDualStackTimeout(addr, timeout)
			}
			return fasthttp.DialDualStack(addr)
		})
	}
	return c, nil
}

func fullJitter(n int) time.Duration {
	d := backoffCap
	if n < 20 {
		d = min(backoffCap, backoffBase<<(n-1))
	}
	return time.Duration(rand.Int64N(int64(d) + 1))
}

// body is the 2xx answer, in a pooled buffer; call release when done.
type body struct {
	b   []byte
	buf *[]byte
}

func (b body) release() {
	if b.buf != nil && cap(*b.buf) <= 1<<20 {
		bodyPool.Put(b.buf)
	}
}

var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// post sends payload, retrying transient failures, until ctx's deadline
// or else the poster's timeout. payload is copied: the caller may reuse it
// once post returns.
//
// traceparent, when set (agent.otlp), is sent as the W3C traceparent
// header, so the agent's spans join the call's trace.
func (p *poster) post(ctx context.Context, payload []byte, traceparent string, start time.Time, info *CallInfo) (body, *CallError) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = start.Add(p.timeout)
	}
	for attempt := 1; ; attempt++ {
		if info != nil {
			info.Attempts = attempt
		}
		b, wait, err := p.once(ctx, payload, traceparent, deadline, start)
		if err == nil {
			return b, nil
		}
		if !err.Transient || attempt > p.retries {
			return body{}, err
		}
		backoff := p.backoff(attempt)
		if wait > 0 {
			backoff = min(wait, retryAfterLimit)
		}
		if time.Until(deadline) < backoff {
			// Waiting would outlast the call; the last failure says more
			// than a timeout would.
			return body{}, err
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return body{}, ctxError(ctx, p.what, start)
		}
	}
}

// exchange is one request and its answer's head, pooled. The request keeps
// the method, URL and headers of the poster it was last filled for, so a
// call to the same agent only sets the body.
type exchange struct {
	req    fasthttp.Request
	resp   fasthttp.Response
	owner  *poster
	traced bool // req carries a traceparent header
}

var exchangePool = sync.Pool{New: func() any { return new(exchange) }}

func (x *exchange) release() {
	if cap(x.req.Body()) > 1<<20 {
		return // let a huge request buffer go
	}
	x.req.ResetBody()
	x.resp.Reset()
	exchangePool.Put(x)
}

// once makes one attempt. wait is the server's Retry-After, if any.
//
// fasthttp knows deadlines but not contexts: a cancelled ctx (Ctrl-C)
// closes the agent's connections so the call returns at once instead of at
// its deadline. Inside a run (begin) the run's context does that for every
// call; a call outside one registers on its own ctx. The request runs on
// the caller's goroutine: one more goroutine per call to wait on ctx cost
// a fast agent's run several per cent.
func (p *poster) once(ctx context.Context, payload []byte, traceparent string, deadline, start time.Time) (body, time.Duration, *CallError) {
	if ctx.Err() != nil {
		return body{}, 0, ctxError(ctx, p.what, start)
	}
	x := exchangePool.Get().(*exchange)
	defer x.release()
	p.fill(x, payload, traceparent)
	if p.runs.Load() > 0 {
		b, wait, err := p.roundTrip(&x.req, &x.resp, deadline, start)
		if err != nil && ctx.Err() != nil {
			return body{}, 0, ctxError(ctx, p.what, start)
		}
		return b, wait, err
	}
	stop := context.AfterFunc(ctx, func() {
		if errors.Is(ctx.Err(), context.Canceled) {
			p.abort()
		}
	})
	b, wait, err := p.roundTrip(&x.req, &x.resp, deadline, start)
	if !stop() && errors.Is(ctx.Err(), context.Canceled) {
		b.release()
		return body{}, 0, ctxError(ctx, p.what, start)
	}
	return b, wait, err
}

// begin starts a run of calls under ctx (see RunScoped): cancelling ctx
// closes the agent's connections, and no new one opens until the run
// ends, so a call that raced the cancel cannot wait out its deadline on a
// connection nobody closes.
func (p *poster) begin(ctx context.Context) (end func()) {
	p.runs.Add(1)
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(fired)
		if errors.Is(ctx.Err(), context.Canceled) {
			p.conns.refuse(true)
			p.abort()
		}
	})
	return func() {
		if !stop() {
			<-fired
		}
		if p.runs.Add(-1) == 0 {
			p.conns.refuse(false)
		}
	}
}

// abort cancels every call in flight: calls are cancelled together, when
// the run stops.
func (p *poster) abort() {
	p.client.CloseIdleConnections()
	p.conns.closeAll()
}

func (p *poster) fill(x *exchange, payload []byte, traceparent string) {
	if x.owner != p {
		req := &x.req
		req.Reset()
		req.Header.SetMethod(fasthttp.MethodPost)
		req.SetURI(p.uri)
		for _, h := range p.header {
			req.Header.SetCanonical(h.key, h.value)
		}
		x.owner = p
		x.traced = false
	}
	// Each call has its own traceparent; the pooled request must not
	// carry the last one to a call that has none.
	switch {
	case traceparent != "":
		x.req.Header.Set("traceparent", traceparent)
		x.traced = true
	case x.traced:
		x.req.Header.Del("traceparent")
		x.traced = false
	}
	x.req.SetBody(payload)
}

func (p *poster) roundTrip(req *fasthttp.Request, resp *fasthttp.Response, deadline, start time.Time) (body, time.Duration, *CallError) {
	if err := p.client.DoDeadline(req, resp, deadline); err != nil {
		return body{}, 0, p.transportError(err, deadline, start)
	}
	// The stream must be closed whatever happens: a fully read one gives
	// the connection back, anything else closes it.
	defer resp.CloseBodyStream()
	if code := resp.StatusCode(); code < 200 || code > 299 {
		return body{}, retryAfter(string(resp.Header.Peek("Retry-After"))), p.statusError(resp)
	}
	b, cerr := p.readBody(resp, deadline, start)
	return b, 0, cerr
}

// readBody reads at most the output cap, into a pooled buffer sized by
// Content-Length when the server sent one.
func (p *poster) readBody(resp *fasthttp.Response, deadline, start time.Time) (body, *CallError) {
	r := bodyStream(resp)
	bp := bodyPool.Get().(*[]byte)
	buf := (*bp)[:0]
	if n := int64(resp.Header.ContentLength()); n >= 0 && n <= p.limit && int64(cap(buf)) < n+1 {
		buf = make([]byte, 0, n+1)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		room := cap(buf) - len(buf)
		if over := int64(len(buf)) + int64(room) - (p.limit + 1); over > 0 {
			room -= int(over)
		}
		n, err := r.Read(buf[len(buf) : len(buf)+room])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > p.limit {
			*bp = buf[:0]
			bodyPool.Put(bp)
			return body{}, tooLarge(p.what, buf, p.limit)
		}
		if err == io.EOF {
			*bp = buf
			return body{b: buf, buf: bp}, nil
		}
		if err != nil {
			*bp = buf[:0]
			defer bodyPool.Put(bp)
			if isTimeout(err, deadline) {
				ce := p.timeoutError(start)
				ce.Partial = excerpt(buf, excerptLimit)
				return body{}, ce
			}
			return body{}, &CallError{Kind: repo.ErrConnection, Transient: true, Partial: excerpt(buf, excerptLimit),
				Msg: fmt.Sprintf("%s at %s closed the connection mid-answer: %v", p.what, p.display, err)}
		}
	}
}

// bodyStream is the answer's body; one that has none (204, 304) reads as
// empty.
func bodyStream(resp *fasthttp.Response) io.Reader {
	if r := resp.BodyStream(); r != nil {
		return r
	}
	return http.NoBody
}

// isTimeout tells a deadline from other failures: fasthttp reports some
// as its ErrTimeout, the connection as a net.Error, and a dial cut short
// by the deadline as whatever the dialer saw.
func isTimeout(err error, deadline time.Time) bool {
	var ne net.Error
	return errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, os.ErrDeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout()) || !time.Now().Before(deadline)
}

// timeoutError is ctxError's timeout, for a deadline seen by the transport
// before ctx noticed.
// It names the configured limit, not the time the call took (see
// timeoutError).
func (p *poster) timeoutError(time.Time) *CallError { return timeoutError(p.what, p.timeout) }

func (p *poster) transportError(err error, deadline, start time.Time) *CallError {
	if isTimeout(err, deadline) {
		return p.timeoutError(start)
	}
	switch {
	case errors.Is(err, fasthttp.ErrConnectionClosed), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		err = errors.New("the connection was closed before an answer")
	}
	return &CallError{Kind: repo.ErrConnection, Transient: true,
		Msg: fmt.Sprintf("could not reach %s at %s (%v); check it is running and reachable from this host", p.what, p.display, err)}
}

func (p *poster) statusError(resp *fasthttp.Response) *CallError {
	// Read a little of the body: servers explain their 4xx there. Whatever
	// is left is drained (bounded) so the connection can be reused.
	r := bodyStream(resp)
	buf := make([]byte, 0, 1024)
	n, _ := io.ReadFull(r, buf[:cap(buf)])
	buf = buf[:n]
	_, _ = io.CopyN(io.Discard, r, 64<<10)
	code := resp.StatusCode()
	transient := code == http.StatusTooManyRequests || code >= 500
	reason := string(resp.Header.StatusMessage())
	if reason == "" {
		reason = http.StatusText(code)
	}
	msg := fmt.Sprintf("%s at %s answered HTTP %d %s", p.what, p.display, code, reason)
	if line := firstLine(string(buf)); line != "" {
		msg += ": " + line
	}
	return &CallError{Kind: repo.ErrHTTPStatus, Transient: transient, Msg: msg, Partial: excerpt(buf, excerptLimit)}
}

// retryAfter parses Retry-After as seconds or an HTTP date; 0 when absent
// or unusable.
func retryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return min(time.Duration(secs*float64(time.Second)), retryAfterLimit)
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return min(d, retryAfterLimit)
		}
	}
	return 0
}
