package adapters

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/goccy/go-json"
	"github.com/selfevals/selfevals/repo"
)

// builtinAgents are compiled in for examples and tests.
var builtinAgents = map[string]func(req *repo.Request) repo.Response{
	// pingpong answers "pong" when model_params.level >= 0.5, else "miss"
	// (the reference's example agent).
	"pingpong": func(req *repo.Request) repo.Response {
		level := 0.0
		if mp, ok := req.Parameters["model_params"].(map[string]any); ok {
			level = toFloat(mp["level"])
		}
		out := "miss"
		if level >= 0.5 {
			out = "pong"
		}
		return repo.Response{Output: out, Usage: repo.Usage{InputTokens: 4, OutputTokens: 2}, Model: "builtin/pingpong"}
	},
	// echo answers with its input: input.text when there is one, else the
	// input's JSON.
	"echo": func(req *repo.Request) repo.Response {
		var in struct {
			Text *string `json:"text"`
		}
		if json.Unmarshal(req.Input, &in) == nil && in.Text != nil {
			return repo.Response{Output: *in.Text, Model: "builtin/echo"}
		}
		return repo.Response{Output: string(req.Input), Model: "builtin/echo"}
	},
	"hello":      helloAgent,
	"fake_judge": fakeJudge,
}

// BuiltinNames lists the built-in agents.
func BuiltinNames() []string {
	names := make([]string, 0, len(builtinAgents))
	for n := range builtinAgents {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Builtin is an agent compiled into selfevals.
type Builtin struct {
	name string
	fn   func(req *repo.Request) repo.Response
}

// NewBuiltin returns the named built-in agent.
func NewBuiltin(name string) (*Builtin, error) {
	fn, ok := builtinAgents[name]
	if !ok {
		return nil, repo.Userf("unknown builtin agent %q; available: %s", name, strings.Join(BuiltinNames(), ", "))
	}
	return &Builtin{name: name, fn: fn}, nil
}

// Call runs the agent in-process.
func (b *Builtin) Call(ctx context.Context, req *repo.Request) (repo.Response, error) {
	if err := ctx.Err(); err != nil {
		return repo.Response{}, &CallError{Kind: repo.ErrCanceled, Msg: err.Error()}
	}
	if info := callInfoFrom(ctx); info != nil {
		*info = CallInfo{Attempts: 1}
	}
	return b.fn(req), nil
}

// Close does nothing.
func (b *Builtin) Close() error { return nil }

// toFloat reads a numeric parameter, also when written as a string.
func toFloat(v any) float64 {
	if f, ok := repo.Number(v); ok {
		return f
	}
	var f float64
	if s, ok := v.(string); ok {
		fmt.Sscan(s, &f)
	}
	return f
}
