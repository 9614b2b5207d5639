package adapters

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/selfevals/selfevals/repo"
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
	// transport, not an http.Client: agents do not redirect, and skipping
	// the client's redirect machinery saves a header copy per call.
	transport *http.Transport
	url       *url.URL
	// display is the URL as written in the spec (${NAME} unexpanded, any
	// password redacted): error messages end up in traces, secrets must not.
	display string
	header  http.Header // expanded; read-only once built, shared by requests
	retries int
	limit   int64
	what    string // "agent" or "openai endpoint", for messages
	// backoff is the wait before retry n (from 1); a field so tests can
	// shorten it.
	backoff func(n int) time.Duration
}

func newPoster(rawURL string, headers map[string]string, field string, agent repo.Agent, opts Options) (*poster, error) {
	expanded, err := expand(rawURL, field+".url", opts.LookupEnv)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(expanded)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, repo.Userf("%s.url: %q is not an http:// or https:// URL", field, rawURL)
	}
	h := http.Header{}
	for k, v := range headers {
		ev, err := expand(v, field+".headers."+k, opts.LookupEnv)
		if err != nil {
			return nil, err
		}
		h.Set(k, ev)
	}
	h.Set("Content-Type", "application/json")
	if h.Get("Accept") == "" {
		h.Set("Accept", "application/json")
	}
	display := rawURL
	if du, err := url.Parse(rawURL); err == nil {
		display = du.Redacted()
	}
	return &poster{
		display:   display,
		transport: newTransport(opts.Parallelism),
		url:       u,
		header:    h,
		retries:   opts.Retries,
		limit:     agent.OutputLimit(),
		what:      "agent",
		backoff:   fullJitter,
	}, nil
}

// newTransport is tuned for many parallel calls to one (often loopback)
// host: enough idle connections that every slot keeps its own alive.
func newTransport(parallelism int) *http.Transport {
	idle := max(parallelism*2, 16)
	return &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        idle,
		MaxIdleConnsPerHost: idle,
		IdleConnTimeout:     90 * time.Second,
		// Agents answer JSON that is read once; gzip costs more CPU on
		// loopback than it saves.
		DisableCompression:    true,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
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

// post sends payload, retrying transient failures.
func (p *poster) post(ctx context.Context, payload []byte, start time.Time, info *CallInfo) (body, *CallError) {
	for attempt := 1; ; attempt++ {
		if info != nil {
			info.Attempts = attempt
		}
		b, wait, err := p.once(ctx, payload, start)
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
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < backoff {
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

// once makes one attempt. wait is the server's Retry-After, if any.
func (p *poster) once(ctx context.Context, payload []byte, start time.Time) (body, time.Duration, *CallError) {
	req := (&http.Request{
		Method:     http.MethodPost,
		URL:        p.url,
		Host:       p.url.Host,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     p.header,
		// A plain NopCloser(*bytes.Reader) is what net/http recognises as
		// in memory: it then writes headers and body in one syscall.
		Body:          io.NopCloser(bytes.NewReader(payload)),
		ContentLength: int64(len(payload)),
	}).WithContext(ctx)
	resp, err := p.transport.RoundTrip(req)
	if err != nil {
		return body{}, 0, p.transportError(ctx, err, start)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return body{}, retryAfter(resp.Header.Get("Retry-After")), p.statusError(ctx, resp, start)
	}
	b, cerr := p.readBody(ctx, resp, start)
	return b, 0, cerr
}

// readBody reads at most the output cap, into a pooled buffer sized by
// Content-Length when the server sent one.
func (p *poster) readBody(ctx context.Context, resp *http.Response, start time.Time) (body, *CallError) {
	bp := bodyPool.Get().(*[]byte)
	buf := (*bp)[:0]
	if n := resp.ContentLength; n >= 0 && n <= p.limit && int64(cap(buf)) < n+1 {
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
		n, err := resp.Body.Read(buf[len(buf) : len(buf)+room])
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
			if ctx.Err() != nil {
				ce := ctxError(ctx, p.what, start)
				ce.Partial = excerpt(buf, excerptLimit)
				return body{}, ce
			}
			return body{}, &CallError{Kind: repo.ErrConnection, Transient: true, Partial: excerpt(buf, excerptLimit),
				Msg: fmt.Sprintf("%s at %s closed the connection mid-answer: %v", p.what, p.display, err)}
		}
	}
}

func (p *poster) transportError(ctx context.Context, err error, start time.Time) *CallError {
	if ctx.Err() != nil {
		return ctxError(ctx, p.what, start)
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	return &CallError{Kind: repo.ErrConnection, Transient: true,
		Msg: fmt.Sprintf("could not reach %s at %s (%v); check it is running and reachable from this host", p.what, p.display, err)}
}

func (p *poster) statusError(ctx context.Context, resp *http.Response, start time.Time) *CallError {
	// Read a little of the body: servers explain their 4xx there. Whatever
	// is left is drained (bounded) so the connection can be reused.
	buf := make([]byte, 0, 1024)
	n, _ := io.ReadFull(resp.Body, buf[:cap(buf)])
	buf = buf[:n]
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	transient := resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
	msg := fmt.Sprintf("%s at %s answered HTTP %s", p.what, p.display, resp.Status)
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
