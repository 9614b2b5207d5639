package adapters

import (
	"strings"
	"testing"

	"github.com/goccy/go-json"
	"github.com/google/go-cmp/cmp"
	"github.com/selfevals/selfevals/repo"
)

var responseSeeds = []string{
	`{"output":"hi"}`,
	`{"output":""}`,
	`{"error":"the model refused"}`,
	`{"structured_output":{"a":[1,2]}}`,
	`{"tool_calls":[{"name":"search","arguments":{"q":"x"},"result":"r","error":null,"duration_ms":12}]}`,
	`{"output":"x","spans":[{"kind":"llm_call","name":"n","start":"2024-01-01T00:00:00Z","duration_ms":830,"attributes":{"k":1}}],"usage":{"input_tokens":812,"output_tokens":95},"cost_usd":0.0031,"model":"m","extra":true}`,
	`{"output":5}`,
	`{"usage":{"input_tokens":"many"},"output":"x"}`,
	`{"tool_calls":[{"arguments":{}}]}`,
	`{"tool_calls":{"name":"x"}}`,
	`{}`,
	`{"output":null}`,
	`[]`,
	`"text"`,
	``,
	`{"output":"x"} trailing`,
	`{"output":"\ud83d`,
	`{"output":"caf\u00e9 \u2603"}`,
	"\xff\xfe{",
	`{"a":` + strings.Repeat("[", 10000),
}

func TestParseResponse(t *testing.T) {
	tests := []struct {
		body    string
		want    repo.Response
		wantErr string // substring of the message; kind is always invalid_json
	}{
		{body: `{"output":"hi"}`, want: repo.Response{Output: "hi"}},
		{body: "  {\"output\":\"\"}\n", want: repo.Response{}},
		{body: `{"error":"refused"}`, want: repo.Response{Error: "refused"}},
		{body: `{"structured_output":{"a":1}}`, want: repo.Response{StructuredOutput: json.RawMessage(`{"a":1}`)}},
		{body: `{"tool_calls":[{"name":"s","arguments":{"q":1},"result":null,"error":null}]}`, want: repo.Response{ToolCalls: []repo.ToolCall{{Name: "s", Arguments: json.RawMessage(`{"q":1}`)}}}},
		{body: `{"output":"x","usage":{"input_tokens":4,"output_tokens":2},"cost_usd":0.5,"model":"m","stop_reason":"end_turn"}`,
			want: repo.Response{Output: "x", Usage: repo.Usage{InputTokens: 4, OutputTokens: 2}, CostUSD: 0.5, Model: "m"}},
		{body: `{"output":5}`, wantErr: `field "output" must be a string, got a number`},
		{body: `{"output":"x","usage":{"input_tokens":"many"}}`, wantErr: `field "usage.input_tokens" must be an integer, got a string`},
		{body: `{"tool_calls":{"name":"x"}}`, wantErr: `field "tool_calls" must be an array, got an object`},
		{body: `{"tool_calls":[{"arguments":{}}]}`, wantErr: `tool_calls[0]: missing "name"`},
		{body: `{"tool_calls":["search"]}`, wantErr: `field "tool_calls[0]" must be an object, got a string`},
		{body: `{"tool_calls":[{"name":"s","duration_ms":"slow"}]}`, wantErr: `field "tool_calls[0].duration_ms" must be a number, got a string`},
		{body: `{"output":"x","usage":{"input_tokens":1.5}}`, wantErr: `field "usage.input_tokens" must be an integer, got 1.5`},
		{body: `{"output":"x","spans":[{"kind":3}]}`, wantErr: `field "spans[0].kind" must be a string, got a number`},
		{body: `{"output":"x","cost_usd":"$1"}`, wantErr: `field "cost_usd" must be a number, got a string`},
		{body: `{}`, wantErr: "none of output, structured_output, tool_calls or error"},
		{body: `{"output":null}`, wantErr: "none of output"},
		{body: `{"structured_output":null}`, wantErr: "none of output"},
		{body: `[1]`, wantErr: "must be a JSON object like {\"output\": \"...\"}, got an array"},
		{body: `hello there`, wantErr: `got text starting "hello there"`},
		{body: "not json\n", wantErr: `got text starting "not json"`},
		{body: `true story`, wantErr: `got text starting "true story"`},
		{body: `null`, wantErr: `got null`},
		{body: `false`, wantErr: `got a boolean`},
		{body: ``, wantErr: "agent answered nothing"},
		{body: `{"output":"x"} trailing`, wantErr: "not valid JSON"},
		{body: `{"output":"x"`, wantErr: "not valid JSON"},
	}
	for _, tt := range tests {
		got, err := ParseResponse([]byte(tt.body))
		if tt.wantErr != "" {
			ce := wantCallError(t, err, repo.ErrInvalidJSON, tt.wantErr)
			if ce.Partial != tt.body {
				t.Errorf("%s: partial = %q", tt.body, ce.Partial)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.body, err)
			continue
		}
		if d := cmp.Diff(tt.want, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", tt.body, d)
		}
	}
}

func TestExcerpt(t *testing.T) {
	s := excerpt([]byte(strings.Repeat("é", 3000)), 4096)
	if !strings.HasSuffix(s, "…[1904 more bytes]") || !strings.HasPrefix(s, "éé") {
		t.Errorf("excerpt = …%q", s[len(s)-30:])
	}
	if strings.ContainsRune(s, '\uFFFD') {
		t.Error("excerpt cut a rune")
	}
}

func FuzzParseResponse(f *testing.F) {
	for _, s := range responseSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := ParseResponse(body)
		if err != nil {
			if ce, ok := err.(*CallError); !ok || ce.Kind != repo.ErrInvalidJSON {
				t.Fatalf("error %v is not an invalid_json CallError", err)
			}
			return
		}
		if resp.Output == "" && resp.Error == "" && resp.StructuredOutput == nil && resp.ToolCalls == nil && !strings.Contains(string(body), "output") {
			t.Fatalf("accepted %q without output", body)
		}
		// What was accepted encodes again (it goes into traces).
		if _, err := json.Marshal(resp); err != nil {
			t.Fatalf("accepted %q but cannot encode %+v: %v", body, resp, err)
		}
		// What the boundary check passes, the results writer writes.
		if CheckResponse(&resp) == nil {
			r := repo.Result{Trace: repo.Trace{Output: resp.Output, StructuredOutput: resp.StructuredOutput, ToolCalls: resp.ToolCalls,
				Spans: resp.Spans, Model: resp.Model, Error: resp.Error, CostUSD: resp.CostUSD, Usage: resp.Usage}}
			if _, err := r.AppendJSON(nil); err != nil {
				t.Fatalf("%q passed CheckResponse but the results writer refuses it: %v", body, err)
			}
		}
	})
}
