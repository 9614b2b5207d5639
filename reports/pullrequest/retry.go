package pullrequest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Retry bounds: a call is tried at most maxAttempts times, and no single
// wait is longer than maxWait, so a job never hangs on GitHub.
const (
	maxAttempts = 4
	maxWait     = 60 * time.Second
)

// retryTransport retries what GitHub asks to be retried: server errors
// (5xx) with exponential backoff, and secondary rate limits (403 or 429
// with Retry-After, or naming the secondary rate limit) after the wait
// GitHub names. go-github sees only the final answer, so its own
// secondary-rate-limit bookkeeping never refuses the next call.
type retryTransport struct {
	base http.RoundTripper
	// backoff is the first wait after a 5xx; it doubles each time.
	backoff time.Duration
	sleep   func(context.Context, time.Duration) error
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	wait := t.backoff
	for attempt := 1; ; attempt++ {
		resp, err := t.base.RoundTrip(req)
		if err != nil || attempt == maxAttempts {
			return resp, err
		}
		d, retry := t.retryAfter(resp, wait)
		if !retry || (req.Body != nil && req.GetBody == nil) {
			return resp, nil
		}
		resp.Body.Close()
		if err := t.sleep(req.Context(), d); err != nil {
			return nil, err
		}
		if req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req = req.Clone(req.Context())
			req.Body = body
		}
		wait *= 2
	}
}

// retryAfter says whether resp asks for another try, and after how long.
// A 403 is read (and its body put back) only to tell a secondary rate
// limit from a refusal.
func (t *retryTransport) retryAfter(resp *http.Response, backoff time.Duration) (time.Duration, bool) {
	switch {
	case resp.StatusCode >= 500:
		return min(backoff, maxWait), true
	case resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusTooManyRequests:
		if s := resp.Header.Get("Retry-After"); s != "" {
			if secs, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && secs >= 0 {
				return min(time.Duration(secs)*time.Second, maxWait), true
			}
		}
		if resp.Header.Get("X-RateLimit-Remaining") == "0" {
			return 0, false // the primary limit: it resets in up to an hour
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		if bytes.Contains(bytes.ToLower(body), []byte("secondary rate limit")) {
			return min(max(backoff, time.Second), maxWait), true
		}
	}
	return 0, false
}

// sleepCtx waits d, or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
