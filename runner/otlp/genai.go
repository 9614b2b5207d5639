package otlp

import (
	"cmp"
	"slices"

	"github.com/goccy/go-json"

	"github.com/selfevals/selfevals/repo"
)

// Apply folds a finished call's spans into its response, where graders,
// metrics and the cache see them. What the agent answered itself wins; the
// spans fill in what it left out (GenAI semantic conventions):
//
//   - usage: the gen_ai.usage.* tokens of the spans, each counted once (a
//     span whose descendants report usage is taken to sum them);
//   - model: gen_ai.response.model, else gen_ai.request.model;
//   - tool calls: execute_tool spans and spans naming gen_ai.tool.name, in
//     start order, so required_tools and forbidden_tools see them;
//   - error: a top span (directly under the call) with status error;
//   - cost: token usage times agent.otlp.prices of the span's model.
//
// The spans themselves follow the agent's own, and the count of spans past
// the caps is kept.
func Apply(resp *repo.Response, c Capture, o *repo.OTLP) {
	resp.Spans = append(resp.Spans, c.Spans...)
	resp.SpansDropped += c.Dropped
	if len(c.Spans) == 0 {
		applyCost(resp, c, nil, o)
		return
	}
	counted := usageSpans(c)
	spanUsage := false
	if resp.Usage == (repo.Usage{}) && len(counted) > 0 {
		for _, i := range counted {
			resp.Usage.InputTokens += c.gen[i].in
			resp.Usage.OutputTokens += c.gen[i].out
		}
		spanUsage = true
	}
	if resp.Model == "" {
		resp.Model = spanModel(c, counted)
	}
	if len(resp.ToolCalls) == 0 {
		resp.ToolCalls = toolCalls(c)
	}
	if resp.Error == "" {
		resp.Error = topError(c)
	}
	if !spanUsage {
		counted = nil // the agent's own usage is priced whole
	}
	applyCost(resp, c, counted, o)
}

// ApplyFailed keeps the spans of a call that failed (no response): they
// often say why.
func ApplyFailed(t *repo.Trace, c Capture) {
	t.Spans = append(t.Spans, c.Spans...)
	t.SpansDropped += c.Dropped
}

// usageSpans are the indexes of the spans whose usage counts: those that
// report usage and have no descendant that does.
func usageSpans(c Capture) []int {
	byID := make(map[string]int, len(c.Spans))
	for i := range c.Spans {
		byID[c.Spans[i].SpanID] = i
	}
	summed := make([]bool, len(c.Spans)) // an ancestor of a span with usage
	for i := range c.Spans {
		if !c.gen[i].usage {
			continue
		}
		seen := 0
		for p := c.Spans[i].ParentID; p != "" && seen < len(c.Spans); seen++ {
			j, ok := byID[p]
			if !ok || summed[j] {
				break
			}
			summed[j] = true
			p = c.Spans[j].ParentID
		}
	}
	var out []int
	for i := range c.Spans {
		if c.gen[i].usage && !summed[i] {
			out = append(out, i)
		}
	}
	return out
}

// spanModel is the model the spans name: the counted spans' first, else
// any span's, the response model before the requested one.
func spanModel(c Capture, counted []int) string {
	for _, i := range counted {
		if m := modelOf(c.gen[i]); m != "" {
			return m
		}
	}
	for i := range c.gen {
		if m := modelOf(c.gen[i]); m != "" {
			return m
		}
	}
	return ""
}

func modelOf(g genAI) string {
	if g.respModel != "" {
		return g.respModel
	}
	return g.reqModel
}

func toolCalls(c Capture) []repo.ToolCall {
	var idx []int
	for i := range c.gen {
		if c.gen[i].tool != "" {
			idx = append(idx, i)
		}
	}
	// Spans arrive as they end; tools are listed as they started.
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(c.Spans[a].Start, c.Spans[b].Start) })
	var out []repo.ToolCall
	for _, i := range idx {
		s, g := &c.Spans[i], c.gen[i]
		tc := repo.ToolCall{Name: g.tool, DurationMS: s.DurationMS, Arguments: rawJSON(g.toolArgs), Result: rawJSON(g.toolRes)}
		if s.Status == "error" {
			tc.Error = s.StatusMessage
			if tc.Error == "" {
				tc.Error = "span status error"
			}
		}
		out = append(out, tc)
	}
	return out
}

// rawJSON keeps JSON text as it is and wraps anything else as a string.
func rawJSON(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	if json.Valid([]byte(s)) {
		return json.RawMessage(s)
	}
	b, _ := json.Marshal(s)
	return b
}

func topError(c Capture) string {
	for i := range c.Spans {
		s := &c.Spans[i]
		if s.ParentID == "" && s.Status == "error" {
			msg := s.StatusMessage
			if msg == "" {
				msg = "status error"
			}
			return "span " + s.Name + ": " + msg
		}
	}
	return ""
}

// applyCost prices the response's tokens when the agent reported no cost:
// per counted span with that span's model (else the response's), or, when
// the usage is the response's own, with the response's model. A token count
// whose model has no price leaves the cost unknown rather than understated.
func applyCost(resp *repo.Response, c Capture, counted []int, o *repo.OTLP) {
	if resp.CostReported || resp.CostUSD != 0 || o == nil || len(o.Prices) == 0 || resp.Usage == (repo.Usage{}) {
		return
	}
	var total float64
	if counted == nil {
		p, ok := o.Price(resp.Model)
		if !ok {
			return
		}
		total = p.Cost(resp.Usage.InputTokens, resp.Usage.OutputTokens)
	}
	for _, i := range counted {
		m := modelOf(c.gen[i])
		if m == "" {
			m = resp.Model
		}
		p, ok := o.Price(m)
		if !ok {
			return
		}
		total += p.Cost(c.gen[i].in, c.gen[i].out)
	}
	resp.CostUSD, resp.CostReported = total, true
}
