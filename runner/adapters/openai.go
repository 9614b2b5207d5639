package adapters

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/goccy/go-json"
	"github.com/selfevals/selfevals/internal/lazy"
	"github.com/selfevals/selfevals/repo"
)

// OpenAI calls an OpenAI-compatible /chat/completions endpoint (OpenAI,
// vLLM, Ollama, LM Studio…), translating the protocol both ways:
//
//   - messages come from input.messages ({role, content, …}, extra keys kept),
//     or input.text / input.prompt / a string input as one user message;
//   - {{name}} in string contents is filled from parameters.prompt_variables;
//   - parameters.system_prompt, when a string, replaces a leading system
//     message or is put first;
//   - parameters.model, when a string, overrides agent.openai.model;
//   - every key of parameters.model_params becomes a request field.
//
// The answer's first choice becomes output and tool calls, usage and model
// are copied into the trace.
type OpenAI struct {
	post  *poster
	model string
	desc  string
}

func newOpenAI(agent repo.Agent, opts Options) (*OpenAI, error) {
	o := agent.OpenAI
	if o.BaseURL == "" {
		return nil, repo.Userf("agent.openai.base_url is required, e.g. http://127.0.0.1:11434/v1")
	}
	if o.Model == "" {
		return nil, repo.Userf("agent.openai.model is required, e.g. llama3.2")
	}
	p, err := newPoster(strings.TrimRight(o.BaseURL, "/")+"/chat/completions", o.Headers, "agent.openai", agent, opts)
	if err != nil {
		return nil, err
	}
	p.what = "openai endpoint"
	if o.APIKeyEnv != "" {
		key, ok := opts.LookupEnv(o.APIKeyEnv)
		if !ok || key == "" {
			return nil, &repo.UserError{
				Msg:  fmt.Sprintf("agent.openai.api_key_env: environment variable %s is not set", o.APIKeyEnv),
				Hint: fmt.Sprintf("export %s=... before running, or remove api_key_env for an endpoint without authentication", o.APIKeyEnv),
			}
		}
		p.setHeader("Authorization", "Bearer "+key)
	}
	return &OpenAI{post: p, model: o.Model, desc: Describe(agent)}, nil
}

// String describes the agent without secrets.
func (o *OpenAI) String() string { return o.desc }

// CallTimeout and Begin make OpenAI a RunScoped adapter.
func (o *OpenAI) CallTimeout() time.Duration             { return o.post.timeout }
func (o *OpenAI) Begin(ctx context.Context) (end func()) { return o.post.begin(ctx) }

// Close drops idle connections.
func (o *OpenAI) Close() error {
	o.post.client.CloseIdleConnections()
	return nil
}

// Call sends one chat completion, within ctx's deadline or else the
// adapter's timeout.
func (o *OpenAI) Call(ctx context.Context, req *repo.Request) (repo.Response, error) {
	start := time.Now()
	info := callInfoFrom(ctx)
	if info != nil {
		*info = CallInfo{}
	}
	chat, err := o.chatRequest(req)
	if err != nil {
		return repo.Response{}, err
	}
	payload, err := encodeRequest(chat)
	if err != nil {
		return repo.Response{}, err
	}
	b, cerr := o.post.post(ctx, payload.Bytes(), req.Metadata.TraceParent, start, info)
	payload.release()
	if cerr != nil {
		return repo.Response{}, cerr
	}
	defer b.release()
	return parseChatResponse(b.b)
}

func (o *OpenAI) chatRequest(req *repo.Request) (map[string]any, error) {
	var in struct {
		Messages []map[string]any `json:"messages"`
		Text     *string          `json:"text"`
		Prompt   *string          `json:"prompt"`
	}
	var asString string
	if err := json.Unmarshal(req.Input, &asString); err == nil {
		in.Text = &asString
	} else if err := json.Unmarshal(req.Input, &in); err != nil {
		return nil, &CallError{Kind: repo.ErrInternal, Msg: "openai adapter: case input.messages must be a list of {role, content} objects: " + err.Error()}
	}
	msgs := in.Messages
	if len(msgs) == 0 {
		text := in.Text
		if text == nil {
			text = in.Prompt
		}
		if text == nil {
			return nil, &CallError{Kind: repo.ErrInternal, Msg: "openai adapter: case input has no messages, text or prompt; give input.messages: [{role: user, content: ...}]"}
		}
		msgs = []map[string]any{{"role": "user", "content": *text}}
	}
	vars, _ := req.Parameters["prompt_variables"].(map[string]any)
	if sp, ok := req.Parameters["system_prompt"].(string); ok {
		sys := map[string]any{"role": "system", "content": sp}
		if role, _ := msgs[0]["role"].(string); role == "system" {
			msgs = append([]map[string]any{sys}, msgs[1:]...)
		} else {
			msgs = append([]map[string]any{sys}, msgs...)
		}
	}
	for _, m := range msgs {
		if c, ok := m["content"].(string); ok && len(vars) > 0 {
			m["content"] = fillVariables(c, vars)
		}
	}
	body := map[string]any{}
	if mp, ok := req.Parameters["model_params"].(map[string]any); ok {
		for k, v := range mp {
			body[k] = v
		}
	}
	body["model"] = o.model
	if m, ok := req.Parameters["model"].(string); ok && m != "" {
		body["model"] = m
	}
	body["messages"] = msgs
	return body, nil
}

var placeholder = lazy.Regexp(`\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}`)

// fillVariables replaces {{name}} with vars[name]; unknown names stay as
// written so a typo is visible in the prompt the model saw.
func fillVariables(s string, vars map[string]any) string {
	if !strings.Contains(s, "{{") {
		return s
	}
	return placeholder().ReplaceAllStringFunc(s, func(m string) string {
		name := placeholder().FindStringSubmatch(m)[1]
		v, ok := vars[name]
		if !ok {
			return m
		}
		if s, ok := v.(string); ok {
			return s
		}
		b, err := json.Marshal(v)
		if err != nil {
			return m
		}
		return string(b)
	})
}

type chatResponse struct {
	Model   string `json:"model"`
	Choices []struct {
		Message struct {
			Content   json.RawMessage `json:"content"`
			Refusal   string          `json:"refusal"`
			ToolCalls []struct {
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"message"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int64 `json:"prompt_tokens"`
		CompletionTokens int64 `json:"completion_tokens"`
	} `json:"usage"`
	Error *struct {
		Message string `json:"message"`
	} `json:"error"`
}

func parseChatResponse(body []byte) (resp repo.Response, err error) {
	defer func() {
		if r := recover(); r != nil {
			resp, err = repo.Response{}, invalidJSON(body, fmt.Sprintf("openai endpoint answer could not be decoded (%v)", r))
		}
	}()
	var cr chatResponse
	if err := json.Unmarshal(body, &cr); err != nil {
		return repo.Response{}, invalidJSON(body, "openai endpoint answer is not a chat completion: "+err.Error())
	}
	resp.Model = cr.Model
	resp.Usage = repo.Usage{InputTokens: cr.Usage.PromptTokens, OutputTokens: cr.Usage.CompletionTokens}
	if len(cr.Choices) == 0 {
		if cr.Error != nil && cr.Error.Message != "" {
			resp.Error = cr.Error.Message
			return resp, nil
		}
		return repo.Response{}, invalidJSON(body, "openai endpoint answered no choices")
	}
	msg := cr.Choices[0].Message
	switch c := msg.Content; {
	case len(c) > 0 && c[0] == '"':
		if err := json.Unmarshal(c, &resp.Output); err != nil {
			return repo.Response{}, invalidJSON(body, "openai endpoint answer: choices[0].message.content: "+err.Error())
		}
	case len(c) > 0 && c[0] == '[':
		// Content parts: keep the text ones.
		var parts []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		if json.Unmarshal(c, &parts) == nil {
			var b strings.Builder
			for _, p := range parts {
				b.WriteString(p.Text)
			}
			resp.Output = b.String()
		}
	}
	if resp.Output == "" && msg.Refusal != "" {
		resp.Output = msg.Refusal
	}
	for _, tc := range msg.ToolCalls {
		call := repo.ToolCall{Name: tc.Function.Name}
		if args := strings.TrimSpace(tc.Function.Arguments); args != "" {
			if json.Valid([]byte(args)) {
				call.Arguments = json.RawMessage(args)
			} else {
				// Models sometimes emit broken JSON; keep it, as a string.
				call.Arguments, _ = json.Marshal(tc.Function.Arguments)
			}
		}
		resp.ToolCalls = append(resp.ToolCalls, call)
	}
	return resp, nil
}

var _ Adapter = (*OpenAI)(nil)
