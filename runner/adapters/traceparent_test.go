package adapters

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goccy/go-json"
	"github.com/selfevals/selfevals/repo"
)

const testTraceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

// traced is a request carrying a traceparent, as the run sends with
// agent.otlp.
func traced(input, tp string) *repo.Request {
	r := request(input)
	r.Metadata.TraceParent = tp
	return r
}

// A command agent finds its call's traceparent in TRACEPARENT (with
// TRACESTATE emptied, whatever selfevals inherited) and the exporter's
// endpoint in its environment, under its own env: block.
func TestCommandTraceparentEnv(t *testing.T) {
	root := t.TempDir()
	a := newTestCommand(t, repo.Agent{Env: map[string]string{"OTEL_BSP_SCHEDULE_DELAY": "7"}}, Options{RepoRoot: root,
		Environ: []string{"TRACESTATE=inherited=1", "TRACEPARENT=00-inherited"},
		OTLPEnv: []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318", "OTEL_BSP_SCHEDULE_DELAY=50"}})
	for name, want := range map[string]string{
		"TRACEPARENT":                 testTraceparent,
		"TRACESTATE":                  "",
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
		"OTEL_BSP_SCHEDULE_DELAY":     "7",
	} {
		resp, _, err := callWithTimeout(t, a, traced(`{"mode":"env","text":"`+name+`"}`, testTraceparent), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Output != want+"|"+root {
			t.Errorf("%s = %q, want %q", name, resp.Output, want)
		}
	}
	// A call without one keeps the environment it was given.
	resp, _, err := callWithTimeout(t, a, request(`{"mode":"env","text":"TRACEPARENT"}`), 10*time.Second)
	if err != nil || resp.Output != "00-inherited|"+root {
		t.Errorf("without a traceparent: %q %v", resp.Output, err)
	}
}

// HTTP and OpenAI agents get the traceparent header of their call, and a
// call without one sends none (requests are pooled).
func TestHTTPTraceparentHeader(t *testing.T) {
	var mu sync.Mutex
	var headers, bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		headers = append(headers, r.Header.Get("traceparent"))
		bodies = append(bodies, string(b))
		mu.Unlock()
		if strings.HasSuffix(r.URL.Path, "/chat/completions") {
			w.Write([]byte(`{"choices":[{"message":{"content":"hi"}}]}`))
			return
		}
		w.Write([]byte(`{"output":"hi"}`))
	}))
	defer srv.Close()
	h := newTestHTTP(t, srv.URL, repo.Agent{HTTP: &repo.HTTPAgent{}}, Options{})
	o, err := New(repo.Agent{OpenAI: &repo.OpenAIAgent{BaseURL: srv.URL + "/v1", Model: "m"}}, Options{LookupEnv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	other := strings.Replace(testTraceparent, "b7ad", "c8be", 1)
	for _, a := range []Adapter{h, o} {
		for _, tp := range []string{testTraceparent, other, "", testTraceparent} {
			if _, _, err := callWithTimeout(t, a, traced(`{"text":"x"}`, tp), 10*time.Second); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := []string{testTraceparent, other, "", testTraceparent}
	want = append(want, want...)
	if strings.Join(headers, ",") != strings.Join(want, ",") {
		t.Errorf("traceparent headers %q, want %q", headers, want)
	}
	// The HTTP agent's request carries it in its metadata too.
	var req struct {
		Metadata struct {
			TraceParent *string `json:"traceparent"`
		} `json:"metadata"`
	}
	json.Unmarshal([]byte(bodies[0]), &req)
	if req.Metadata.TraceParent == nil || *req.Metadata.TraceParent != testTraceparent {
		t.Errorf("metadata of %s", bodies[0])
	}
	if strings.Contains(bodies[2], "traceparent") {
		t.Errorf("a call without a traceparent sent %s", bodies[2])
	}
}
