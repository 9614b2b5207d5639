package adapters

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-json"
	"github.com/google/go-cmp/cmp"
	"github.com/selfevals/selfevals/repo"
)

// openAIServer checks each chat request with check and answers answer.
func openAIServer(t *testing.T, check func(t *testing.T, r *http.Request, body map[string]any), answer string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" {
			t.Errorf("path = %s", r.URL.Path)
		}
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("decode request: %v", err)
		}
		check(t, r, body)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(answer))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestOpenAI(t *testing.T) {
	answer := `{"id":"c1","model":"llama3.2-served","choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":"Paris",
		"tool_calls":[{"id":"t1","type":"function","function":{"name":"search","arguments":"{\"q\":\"capital\"}"}},
		              {"id":"t2","type":"function","function":{"name":"broken","arguments":"{not json"}}]}}],
		"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}`
	srv := openAIServer(t, func(t *testing.T, r *http.Request, body map[string]any) {
		if a := r.Header.Get("Authorization"); a != "Bearer sk-test" {
			t.Errorf("Authorization = %q", a)
		}
		if r.Header.Get("X-Org") != "org-1" {
			t.Errorf("X-Org = %q", r.Header.Get("X-Org"))
		}
		want := map[string]any{
			"model":       "llama3.2",
			"temperature": 0.3,
			"max_tokens":  float64(50),
			"messages": []any{
				map[string]any{"role": "system", "content": "You answer in French."},
				map[string]any{"role": "user", "content": "Capital of France? Answer in 1 word, {{unknown}} stays.", "name": "u1"},
			},
		}
		if d := cmp.Diff(want, body); d != "" {
			t.Errorf("request (-want +got):\n%s", d)
		}
	}, answer)
	agent := repo.Agent{OpenAI: &repo.OpenAIAgent{BaseURL: srv.URL + "/v1/", Model: "llama3.2", APIKeyEnv: "OPENAI_API_KEY", Headers: map[string]string{"X-Org": "${ORG}"}}}
	a, err := New(agent, Options{LookupEnv: env(map[string]string{"OPENAI_API_KEY": "sk-test", "ORG": "org-1"})})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	req := request(`{"messages":[{"role":"system","content":"You answer in English."},{"role":"user","content":"Capital of {{ country }}? Answer in {{n}} word, {{unknown}} stays.","name":"u1"}]}`)
	req.Parameters = repo.Parameters{
		"model_params":     map[string]any{"temperature": 0.3, "max_tokens": 50},
		"prompt_variables": map[string]any{"country": "France", "n": 1},
		"system_prompt":    "You answer in French.",
	}
	resp, _, err := callWithTimeout(t, a, req, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := repo.Response{
		Output: "Paris",
		Model:  "llama3.2-served",
		Usage:  repo.Usage{InputTokens: 12, OutputTokens: 3},
		ToolCalls: []repo.ToolCall{
			{Name: "search", Arguments: json.RawMessage(`{"q":"capital"}`)},
			{Name: "broken", Arguments: json.RawMessage(`"{not json"`)},
		},
	}
	if d := cmp.Diff(want, resp); d != "" {
		t.Errorf("response (-want +got):\n%s", d)
	}
	if s := Describe(agent); strings.Contains(s, "sk-test") || strings.Contains(s, "org-1") {
		t.Errorf("Describe leaks: %q", s)
	}
}

func TestOpenAIInputForms(t *testing.T) {
	answer := `{"model":"m","choices":[{"message":{"role":"assistant","content":"ok"}}]}`
	var gotMessages []any
	var gotModel any
	srv := openAIServer(t, func(t *testing.T, r *http.Request, body map[string]any) {
		gotMessages, _ = body["messages"].([]any)
		gotModel = body["model"]
		if r.Header.Get("Authorization") != "" {
			t.Errorf("unexpected Authorization without api_key_env")
		}
	}, answer)
	a, err := New(repo.Agent{OpenAI: &repo.OpenAIAgent{BaseURL: srv.URL + "/v1", Model: "base"}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for _, tt := range []struct {
		input     string
		params    repo.Parameters
		wantText  string
		wantModel string
	}{
		{`{"text":"hello"}`, nil, "hello", "base"},
		{`{"prompt":"say {{x}}"}`, repo.Parameters{"prompt_variables": map[string]any{"x": "hi"}, "model": "other"}, "say hi", "other"},
		{`"a bare string"`, nil, "a bare string", "base"},
	} {
		req := request(tt.input)
		req.Parameters = tt.params
		resp, _, err := callWithTimeout(t, a, req, 5*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", tt.input, err)
		}
		if resp.Output != "ok" {
			t.Errorf("output = %q", resp.Output)
		}
		want := []any{map[string]any{"role": "user", "content": tt.wantText}}
		if d := cmp.Diff(want, gotMessages); d != "" || gotModel != tt.wantModel {
			t.Errorf("%s: model %v, messages (-want +got):\n%s", tt.input, gotModel, d)
		}
	}
	_, _, err = callWithTimeout(t, a, request(`{"question":"?"}`), 5*time.Second)
	wantCallError(t, err, repo.ErrInternal, "no messages, text or prompt")
}

func TestParseChatResponse(t *testing.T) {
	tests := []struct {
		body     string
		want     repo.Response
		wantKind string
	}{
		{body: `{"choices":[{"message":{"content":null,"tool_calls":[{"function":{"name":"f","arguments":""}}]}}]}`,
			want: repo.Response{ToolCalls: []repo.ToolCall{{Name: "f"}}}},
		{body: `{"choices":[{"message":{"content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}}]}`,
			want: repo.Response{Output: "ab"}},
		{body: `{"error":{"message":"model not loaded"}}`, want: repo.Response{Error: "model not loaded"}},
		{body: `{"choices":[]}`, wantKind: repo.ErrInvalidJSON},
		{body: `[1,2]`, wantKind: repo.ErrInvalidJSON},
	}
	for _, tt := range tests {
		got, err := parseChatResponse([]byte(tt.body))
		if tt.wantKind != "" {
			wantCallError(t, err, tt.wantKind)
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.body, err)
		}
		if d := cmp.Diff(tt.want, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", tt.body, d)
		}
	}
}
