package pullrequest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// scripted answers each request with the next of its statuses (200 after
// them), and records the bodies it got.
type scripted struct {
	mu      sync.Mutex
	answers []func(w http.ResponseWriter)
	bodies  []string
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, _ := io.ReadAll(r.Body)
	s.bodies = append(s.bodies, string(b))
	if len(s.answers) == 0 {
		fmt.Fprint(w, "ok")
		return
	}
	a := s.answers[0]
	s.answers = s.answers[1:]
	a(w)
}

func answer(code int, header map[string]string, body string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(code)
		fmt.Fprint(w, body)
	}
}

// post sends a POST through the retrying transport and returns the final
// status, the waits it slept and the bodies the server got.
func post(t *testing.T, answers ...func(http.ResponseWriter)) (int, []time.Duration, []string) {
	t.Helper()
	srv := &scripted{answers: answers}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	var waits []time.Duration
	rt := &retryTransport{base: http.DefaultTransport, backoff: 500 * time.Millisecond,
		sleep: func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }}
	req, err := http.NewRequest(http.MethodPost, ts.URL, strings.NewReader(`{"body":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, waits, srv.bodies
}

func TestRetryTransport(t *testing.T) {
	secondary := `{"message":"You have exceeded a secondary rate limit."}`
	for _, tc := range []struct {
		name    string
		answers []func(http.ResponseWriter)
		status  int
		waits   []time.Duration
	}{
		{"5xx backs off, doubling", []func(http.ResponseWriter){answer(502, nil, ""), answer(503, nil, "")}, 200,
			[]time.Duration{500 * time.Millisecond, time.Second}},
		{"gives up after 4 tries", []func(http.ResponseWriter){answer(500, nil, ""), answer(500, nil, ""), answer(500, nil, ""), answer(500, nil, "")}, 500,
			[]time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}},
		{"Retry-After is obeyed", []func(http.ResponseWriter){answer(429, map[string]string{"Retry-After": "7"}, "")}, 200,
			[]time.Duration{7 * time.Second}},
		{"Retry-After is capped", []func(http.ResponseWriter){answer(403, map[string]string{"Retry-After": "3600"}, secondary)}, 200,
			[]time.Duration{maxWait}},
		{"a secondary limit without Retry-After waits", []func(http.ResponseWriter){answer(403, nil, secondary)}, 200,
			[]time.Duration{time.Second}},
		{"a refusal is not retried", []func(http.ResponseWriter){answer(403, nil, `{"message":"Resource not accessible by integration"}`)}, 403, nil},
		{"the primary limit is not retried", []func(http.ResponseWriter){answer(403, map[string]string{"X-RateLimit-Remaining": "0"}, `{"message":"API rate limit exceeded"}`)}, 403, nil},
		{"a 404 is not retried", []func(http.ResponseWriter){answer(404, nil, "")}, 404, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, waits, bodies := post(t, tc.answers...)
			if code != tc.status || fmt.Sprint(waits) != fmt.Sprint(tc.waits) {
				t.Errorf("status %d after waits %v; want %d after %v", code, waits, tc.status, tc.waits)
			}
			for _, b := range bodies {
				if b != `{"body":"x"}` {
					t.Errorf("a retry sent the body %q", b)
				}
			}
		})
	}
}

// A refused 403's body is still there for go-github to read the message.
func TestRetryTransportKeepsTheBody(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		answer(403, nil, `{"message":"Resource not accessible by integration"}`)(w)
	}))
	defer ts.Close()
	rt := &retryTransport{base: http.DefaultTransport, backoff: time.Millisecond, sleep: sleepCtx}
	req, _ := http.NewRequest(http.MethodGet, ts.URL, nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); !strings.Contains(string(b), "Resource not accessible") {
		t.Errorf("body = %q", b)
	}
}
