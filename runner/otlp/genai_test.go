package otlp

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/selfevals/selfevals/repo"
)

// capture builds what Finish returns for spans given as (id, parent, gen).
func capture(spans ...struct {
	id, parent, start string
	status            string
	g                 genAI
}) Capture {
	var c Capture
	for _, s := range spans {
		c.Spans = append(c.Spans, repo.Span{SpanID: s.id, ParentID: s.parent, Start: s.start, Status: s.status, Name: s.id, StatusMessage: "msg " + s.id})
		c.gen = append(c.gen, s.g)
	}
	return c
}

type sp = struct {
	id, parent, start string
	status            string
	g                 genAI
}

// An agent span that sums its chat spans' usage is not counted twice;
// tools come in start order; the top span's error is the call's.
func TestApplyGenAI(t *testing.T) {
	c := capture(
		sp{"chat1", "agent", "2025-01-01T00:00:01.000000Z", "ok", genAI{op: "chat", in: 10, out: 1, usage: true, reqModel: "m", respModel: "m-2025"}},
		sp{"tool2", "agent", "2025-01-01T00:00:03.000000Z", "error", genAI{op: "execute_tool", tool: "b", toolArgs: `{"x":1}`, toolRes: "plain text"}},
		sp{"tool1", "agent", "2025-01-01T00:00:02.000000Z", "ok", genAI{op: "execute_tool", tool: "a"}},
		sp{"chat2", "agent", "2025-01-01T00:00:04.000000Z", "ok", genAI{op: "chat", in: 20, out: 2, usage: true, reqModel: "other"}},
		sp{"agent", "", "2025-01-01T00:00:00.000000Z", "error", genAI{op: "invoke_agent", in: 30, out: 3, usage: true}},
	)
	prices := &repo.OTLP{Enabled: true, Prices: map[string]repo.ModelPrice{"m": {InputPerMTok: 1, OutputPerMTok: 10}, "other": {InputPerMTok: 2, OutputPerMTok: 20}}}
	var resp repo.Response
	Apply(&resp, c, prices)
	want := repo.Response{
		Spans: c.Spans,
		ToolCalls: []repo.ToolCall{
			{Name: "a"},
			{Name: "b", Arguments: []byte(`{"x":1}`), Result: []byte(`"plain text"`), Error: "msg tool2"},
		},
		Usage: repo.Usage{InputTokens: 30, OutputTokens: 3}, Model: "m-2025", Error: "span agent: msg agent",
		CostUSD: (10*1 + 1*10 + 20*2 + 2*20) / 1e6, CostReported: true,
	}
	if d := cmp.Diff(want, resp); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}

	// What the agent answered itself wins.
	own := repo.Response{Output: "x", Usage: repo.Usage{InputTokens: 1}, Model: "own", ToolCalls: []repo.ToolCall{{Name: "own"}}, Error: "own error", CostUSD: 0.5}
	Apply(&own, c, prices)
	if own.Usage.InputTokens != 1 || own.Model != "own" || len(own.ToolCalls) != 1 || own.Error != "own error" || own.CostUSD != 0.5 || len(own.Spans) != 5 {
		t.Errorf("the agent's own answer was overridden: %+v", own)
	}

	// A model without a price leaves the cost unknown, not understated.
	unpriced := capture(
		sp{"c1", "", "", "ok", genAI{usage: true, in: 5, reqModel: "m"}},
		sp{"c2", "", "", "ok", genAI{usage: true, in: 5, reqModel: "unknown"}},
	)
	var r2 repo.Response
	Apply(&r2, unpriced, prices)
	if r2.CostReported || r2.CostUSD != 0 || r2.Usage.InputTokens != 10 {
		t.Errorf("cost %v reported %v usage %+v", r2.CostUSD, r2.CostReported, r2.Usage)
	}

	// The agent's own usage is priced by its own model.
	r3 := repo.Response{Usage: repo.Usage{InputTokens: 1000, OutputTokens: 100}, Model: "m-2024-05-01"}
	Apply(&r3, Capture{}, prices)
	if !r3.CostReported || r3.CostUSD != (1000*1+100*10)/1e6 {
		t.Errorf("cost of the agent's usage %v (%v)", r3.CostUSD, r3.CostReported)
	}
}
