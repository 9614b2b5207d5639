package adapters

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goccy/go-json"
	"github.com/selfevals/selfevals/repo"
)

func newTestHTTP(t *testing.T, url string, agent repo.Agent, opts Options) *HTTP {
	t.Helper()
	agent.HTTP = &repo.HTTPAgent{URL: url, Headers: agent.HTTP.Headers}
	if opts.LookupEnv == nil {
		opts.LookupEnv = env(nil)
	}
	a, err := New(agent, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	h := a.(*HTTP)
	h.post.backoff = func(int) time.Duration { return time.Millisecond }
	return h
}

// failing answers the first n requests with fail, then echoes.
func failing(n int32, fail http.HandlerFunc) (http.HandlerFunc, *atomic.Int32) {
	var count atomic.Int32
	return func(w http.ResponseWriter, r *http.Request) {
		if count.Add(1) <= n {
			fail(w, r)
			return
		}
		echoHandler(w, r)
	}, &count
}

func echoHandler(w http.ResponseWriter, r *http.Request) {
	var req repo.Request
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	var in struct {
		Text string `json:"text"`
	}
	json.Unmarshal(req.Input, &in)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(repo.Response{Output: in.Text, Model: "http-echo"})
}

func TestHTTP(t *testing.T) {
	hijackClose := func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}
	tests := []struct {
		name         string
		handler      http.HandlerFunc
		agent        repo.Agent
		retries      int
		timeout      time.Duration
		wantOutput   string
		wantKind     string
		wantMsg      []string
		wantAttempts int
		wantCalls    int32
		transient    bool
	}{
		{name: "success", handler: echoHandler, wantOutput: "hi", wantAttempts: 1},
		{name: "429 with Retry-After then success", retries: 2, wantOutput: "hi", wantAttempts: 2,
			handler: func() http.HandlerFunc {
				h, _ := failing(1, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Retry-After", "0.05")
					http.Error(w, "slow down", http.StatusTooManyRequests)
				})
				return h
			}()},
		{name: "500s then success", retries: 3, wantOutput: "hi", wantAttempts: 3,
			handler: func() http.HandlerFunc {
				h, _ := failing(2, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "oops", 500) })
				return h
			}()},
		{name: "500s past the retries", retries: 1, wantKind: repo.ErrHTTPStatus, wantMsg: []string{"500", "oops"}, wantAttempts: 2, transient: true,
			handler: func(w http.ResponseWriter, r *http.Request) { http.Error(w, "oops", 500) }},
		{name: "400 is not retried", retries: 3, wantKind: repo.ErrHTTPStatus, wantMsg: []string{"400", "case_id is wrong"}, wantAttempts: 1,
			handler: func(w http.ResponseWriter, r *http.Request) { http.Error(w, "case_id is wrong", 400) }},
		{name: "connection reset then success", retries: 2, wantOutput: "hi", wantAttempts: 2,
			handler: func() http.HandlerFunc { h, _ := failing(1, hijackClose); return h }()},
		{name: "connection reset every time", retries: 2, wantKind: repo.ErrConnection, wantAttempts: 3, transient: true, handler: hijackClose},
		{name: "body never finishes", timeout: 300 * time.Millisecond, wantKind: repo.ErrTimeout, wantAttempts: 1,
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "1000")
				w.Write([]byte(`{"output": "sta`))
				w.(http.Flusher).Flush()
				<-r.Context().Done()
			}},
		{name: "body cut mid-way", retries: 0, wantKind: repo.ErrConnection, wantAttempts: 1, transient: true,
			handler: func(w http.ResponseWriter, r *http.Request) {
				conn, buf, _ := w.(http.Hijacker).Hijack()
				buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{\"output\": \"sta")
				buf.Flush()
				conn.Close()
			}},
		{name: "oversize body with length", agent: repo.Agent{MaxOutputBytes: 100}, wantKind: repo.ErrTooLarge, wantAttempts: 1,
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte(`{"output":"` + strings.Repeat("y", 1000) + `"}`))
			}},
		{name: "oversize chunked body", agent: repo.Agent{MaxOutputBytes: 100}, wantKind: repo.ErrTooLarge, wantAttempts: 1,
			handler: func(w http.ResponseWriter, r *http.Request) {
				for i := 0; i < 100; i++ {
					w.Write([]byte(strings.Repeat("z", 100)))
					w.(http.Flusher).Flush()
				}
			}},
		{name: "204 no content", wantKind: repo.ErrInvalidJSON, wantMsg: []string{"answered nothing"}, wantAttempts: 1,
			handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }},
		{name: "304 is a status error", retries: 2, wantKind: repo.ErrHTTPStatus, wantMsg: []string{"304"}, wantAttempts: 1,
			handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotModified) }},
		{name: "invalid json body", wantKind: repo.ErrInvalidJSON, wantAttempts: 1,
			handler: func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`<html>hi</html>`)) }},
		{name: "Retry-After beyond the deadline gives up at once", retries: 3, timeout: 2 * time.Second, wantKind: repo.ErrHTTPStatus, wantMsg: []string{"503"}, wantAttempts: 1, transient: true,
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "20")
				http.Error(w, "later", http.StatusServiceUnavailable)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			tt.agent.HTTP = &repo.HTTPAgent{}
			h := newTestHTTP(t, srv.URL, tt.agent, Options{Retries: tt.retries})
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 10 * time.Second
			}
			start := time.Now()
			resp, info, err := callWithTimeout(t, h, request(`{"text":"hi"}`), timeout)
			if el := time.Since(start); el > timeout/2+time.Second && tt.wantKind != repo.ErrTimeout {
				t.Errorf("call took %s", el)
			}
			if tt.wantKind == "" {
				if err != nil {
					t.Fatal(err)
				}
				if resp.Output != tt.wantOutput {
					t.Errorf("output = %q, want %q", resp.Output, tt.wantOutput)
				}
			} else {
				ce := wantCallError(t, err, tt.wantKind, tt.wantMsg...)
				if ce.Transient != tt.transient {
					t.Errorf("transient = %v, want %v", ce.Transient, tt.transient)
				}
				if tt.wantKind == repo.ErrTooLarge && !strings.HasSuffix(ce.Partial, truncatedMarker(100)) {
					t.Errorf("partial = %q", ce.Partial)
				}
			}
			if info.Attempts != tt.wantAttempts {
				t.Errorf("attempts = %d, want %d", info.Attempts, tt.wantAttempts)
			}
		})
	}
}

func TestHTTPRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	h := newTestHTTP(t, "http://"+addr+"/agent?key=${KEY}", repo.Agent{HTTP: &repo.HTTPAgent{}}, Options{Retries: 2, LookupEnv: env(map[string]string{"KEY": "s3cret"})})
	_, info, err := callWithTimeout(t, h, request(`{"text":"hi"}`), 5*time.Second)
	ce := wantCallError(t, err, repo.ErrConnection, "could not reach agent", addr, "key=${KEY}")
	if strings.Contains(ce.Msg, "s3cret") {
		t.Errorf("message leaks the expanded URL: %s", ce.Msg)
	}
	if !ce.Transient || info.Attempts != 3 {
		t.Errorf("transient = %v, attempts = %d", ce.Transient, info.Attempts)
	}
}

func TestHTTPHeadersAndRequest(t *testing.T) {
	var got *http.Request
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		body, _ = io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		echoHandler(w, r)
	}))
	defer srv.Close()
	agent := repo.Agent{HTTP: &repo.HTTPAgent{Headers: map[string]string{"Authorization": "Bearer ${AGENT_TOKEN}"}}}
	h := newTestHTTP(t, srv.URL+"/agent", agent, Options{LookupEnv: env(map[string]string{"AGENT_TOKEN": "s3cret"})})
	if _, _, err := callWithTimeout(t, h, request(`{"text":"hi"}`), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if got.Method != "POST" || got.URL.Path != "/agent" {
		t.Errorf("got %s %s", got.Method, got.URL.Path)
	}
	if a := got.Header.Get("Authorization"); a != "Bearer s3cret" {
		t.Errorf("Authorization = %q", a)
	}
	if ct := got.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	if req["case_id"] != "case_test" || req["parameters"].(map[string]any)["model_params"] == nil {
		t.Errorf("request body = %s", body)
	}
	if s := h.String(); strings.Contains(s, "s3cret") || !strings.Contains(s, "Authorization") {
		t.Errorf("String() = %q", s)
	}
}

// Pooled requests keep the URL and headers of the agent they were last
// filled for: two agents called in turn must each get only their own.
func TestHTTPAgentsDoNotShareHeaders(t *testing.T) {
	var mismatches atomic.Int32
	agentServer := func(name string) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/"+name || r.Header.Get("X-Agent") != name || len(r.Header.Values("X-Agent")) != 1 ||
				(name == "a") != (r.Header.Get("X-Only-A") == "1") {
				mismatches.Add(1)
			}
			echoHandler(w, r)
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	srvA, srvB := agentServer("a"), agentServer("b")
	a := newTestHTTP(t, srvA.URL+"/a", repo.Agent{HTTP: &repo.HTTPAgent{Headers: map[string]string{"X-Agent": "a", "X-Only-A": "1"}}}, Options{Parallelism: 4})
	b := newTestHTTP(t, srvB.URL+"/b", repo.Agent{HTTP: &repo.HTTPAgent{Headers: map[string]string{"X-Agent": "b"}}}, Options{Parallelism: 4})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 25 {
				h := a
				if (i+j)%2 == 1 {
					h = b
				}
				if _, err := h.Call(context.Background(), request(`{"text":"hi"}`)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := mismatches.Load(); n > 0 {
		t.Fatalf("%d of 200 requests carried another agent's URL or headers", n)
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		in       string
		min, max time.Duration
	}{
		{"", 0, 0},
		{"2", 2 * time.Second, 2 * time.Second},
		{"0.5", 500 * time.Millisecond, 500 * time.Millisecond},
		{"-3", 0, 0},
		{"soon", 0, 0},
		{"100000", retryAfterLimit, retryAfterLimit},
		{time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat), time.Second, 3 * time.Second},
		{time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat), 0, 0},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.in); got < tt.min || got > tt.max {
			t.Errorf("retryAfter(%q) = %s, want in [%s, %s]", tt.in, got, tt.min, tt.max)
		}
	}
	for n := 1; n < 30; n++ {
		if d := fullJitter(n); d < 0 || d > backoffCap {
			t.Errorf("fullJitter(%d) = %s", n, d)
		}
	}
}

// Ctrl-C cancels ctx without touching its deadline: a call waiting on the
// agent (for the answer's head, or mid-body) must return at once.
func TestHTTPCanceled(t *testing.T) {
	for _, tt := range []struct {
		name    string
		handler http.HandlerFunc
	}{
		{name: "waiting for the answer", handler: func(w http.ResponseWriter, r *http.Request) {}},
		{name: "mid-body", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "1000")
			w.Write([]byte(`{"output": "sta`))
			w.(http.Flusher).Flush()
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// The handler holds on until the test ends: the abandoned
			// request is still in flight then (it would end at its
			// deadline), and it must release what it holds without a race.
			release := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				tt.handler(w, r)
				<-release
			}))
			defer srv.Close()
			defer close(release)
			h := newTestHTTP(t, srv.URL, repo.Agent{HTTP: &repo.HTTPAgent{}}, Options{Retries: 3, Timeout: 4 * time.Second})
			ctx, cancel := context.WithCancel(context.Background())
			callCanceled(t, h, ctx, cancel, `{"text":"hi"}`)
		})
	}
}

// callCanceled cancels ctx 100 ms into a call of input that the agent
// never answers: the call must return at once, canceled.
func callCanceled(t *testing.T, h *HTTP, ctx context.Context, cancel context.CancelFunc, input string) {
	t.Helper()
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := h.Call(ctx, request(input))
	if el := time.Since(start); el > time.Second {
		t.Errorf("canceled call returned after %s", el)
	}
	wantCallError(t, err, repo.ErrCanceled)
}

// Inside a run (Begin), the run's context cancels the calls: one waiting
// on the agent returns at once, a call that starts after the cancel cannot
// open a connection, and once the run ends the adapter works again.
func TestHTTPRunCanceled(t *testing.T) {
	hang := make(chan struct{})
	var hung atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if bytes.Contains(b, []byte("hang")) {
			hung.Add(1)
			<-hang
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		echoHandler(w, r)
	}))
	defer srv.Close()
	defer close(hang)
	h := newTestHTTP(t, srv.URL, repo.Agent{HTTP: &repo.HTTPAgent{}}, Options{Parallelism: 4, Retries: 3, Timeout: 4 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	end := h.Begin(ctx)
	callCanceled(t, h, ctx, cancel, `{"text":"hang"}`)
	// A call that got past its own check before the cancel dials into a
	// refusal, not a connection nobody would close.
	_, err := h.Call(context.Background(), request(`{"text":"hang late"}`))
	if err == nil || !strings.Contains(err.Error(), "canceled") {
		t.Fatalf("a dial after the cancel: want a refusal, got %v", err)
	}
	end()
	if n := hung.Load(); n != 1 {
		t.Fatalf("the agent saw %d hanging calls, want 1", n)
	}

	// The refusal ended with the cancelled run.
	end = h.Begin(context.Background())
	resp, err := h.Call(context.Background(), request(`{"text":"again"}`))
	end()
	if err != nil || resp.Output == "" {
		t.Fatalf("after the cancelled run: %v %+v", err, resp)
	}
}

func TestHTTPS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(echoHandler))
	defer srv.Close()
	h := newTestHTTP(t, srv.URL+"/agent", repo.Agent{HTTP: &repo.HTTPAgent{}}, Options{})
	h.post.client.TLSConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig
	resp, _, err := callWithTimeout(t, h, request(`{"text":"hi"}`), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Output != "hi" {
		t.Errorf("output = %q", resp.Output)
	}
	// A certificate this host does not trust is a connection error.
	h2 := newTestHTTP(t, srv.URL+"/agent", repo.Agent{HTTP: &repo.HTTPAgent{}}, Options{})
	_, _, err = callWithTimeout(t, h2, request(`{"text":"hi"}`), 5*time.Second)
	wantCallError(t, err, repo.ErrConnection, "could not reach agent")
}

// The URL goes out as written (no path cleaning, query kept, credentials in
// it not sent); redirects are status errors, not followed.
func TestHTTPURLAndRedirect(t *testing.T) {
	var gotURI, gotAuth atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotURI.Store(r.RequestURI)
		gotAuth.Store(r.Header.Get("Authorization"))
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, "/agent", http.StatusTemporaryRedirect)
			return
		}
		echoHandler(w, r)
	}))
	defer srv.Close()
	withCreds := strings.Replace(srv.URL, "http://", "http://user:pw@", 1)
	h := newTestHTTP(t, withCreds+"/a//b/%2F?key=${KEY}&x=1", repo.Agent{HTTP: &repo.HTTPAgent{}}, Options{LookupEnv: env(map[string]string{"KEY": "s3cret"})})
	if _, _, err := callWithTimeout(t, h, request(`{"text":"hi"}`), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if u := gotURI.Load(); u != "/a//b/%2F?key=s3cret&x=1" {
		t.Errorf("request URI = %q", u)
	}
	if a := gotAuth.Load(); a != "" {
		t.Errorf("Authorization = %q, want none", a)
	}
	h = newTestHTTP(t, srv.URL+"/moved", repo.Agent{HTTP: &repo.HTTPAgent{}}, Options{Retries: 2})
	_, info, err := callWithTimeout(t, h, request(`{"text":"hi"}`), 5*time.Second)
	ce := wantCallError(t, err, repo.ErrHTTPStatus, "307")
	if ce.Transient || info.Attempts != 1 {
		t.Errorf("transient = %v, attempts = %d", ce.Transient, info.Attempts)
	}
}

// More calls than run.parallelism (connections) wait for a connection
// instead of failing.
func TestHTTPMoreCallsThanConnections(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(10 * time.Millisecond)
		echoHandler(w, r)
	}))
	defer srv.Close()
	h := newTestHTTP(t, srv.URL, repo.Agent{HTTP: &repo.HTTPAgent{}}, Options{Parallelism: 2})
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			resp, err := h.Call(ctx, request(`{"text":"hi"}`))
			if err != nil || resp.Output != "hi" {
				t.Errorf("output %q, error %v", resp.Output, err)
			}
		}()
	}
	wg.Wait()
}
