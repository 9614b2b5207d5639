package adapters

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/goccy/go-json"

	"github.com/selfevals/selfevals/internal/lazy"
	"github.com/selfevals/selfevals/repo"
)

// helloAgent is the offline agent of the hello example: it classifies
// sentiment, extracts an order, or replies to a customer, depending on
// input.task, in the style model_params.style selects:
//
//	careful  right answers, a polite reply that apologises and offers a refund
//	terse    right answers, a reply that apologises but offers nothing
//	sloppy   calls everything positive, extracts the total as a string and
//	         no customer, and brushes the customer off
//
// It is deterministic: the same request gets the same answer.
func helloAgent(req *repo.Request) repo.Response {
	style := "careful"
	if mp, ok := req.Parameters["model_params"].(map[string]any); ok {
		if s, ok := mp["style"].(string); ok && s != "" {
			style = s
		}
	}
	var in struct {
		Task string `json:"task"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(req.Input, &in); err != nil || in.Task == "" {
		return repo.Response{Error: "hello agent: input needs {task: sentiment|extract|reply, text: ...}"}
	}
	resp := repo.Response{Model: "builtin/hello-" + style, Usage: repo.Usage{InputTokens: int64(len(in.Text)/4 + 12)}}
	switch style {
	case "careful":
		resp.CostUSD = 0.002
	case "terse":
		resp.CostUSD = 0.0005
	case "sloppy":
		resp.CostUSD = 0.0003
	default:
		return repo.Response{Error: fmt.Sprintf("hello agent: unknown model_params.style %q (careful, terse or sloppy)", style)}
	}
	switch in.Task {
	case "sentiment":
		label := sentimentOf(in.Text)
		if style == "sloppy" {
			label = "positive"
		}
		resp.StructuredOutput, _ = json.Marshal(map[string]string{"sentiment": label})
		resp.Output = label
		if style == "careful" {
			resp.Output = "The sentiment of this message is " + label + "."
		}
	case "extract":
		order := map[string]any{}
		if m := orderIDRE().FindStringSubmatch(in.Text); m != nil {
			order["order_id"] = m[1]
		}
		if m := totalRE().FindStringSubmatch(in.Text); m != nil {
			if style == "sloppy" {
				order["total"] = "$" + m[1]
			} else {
				f, _ := strconv.ParseFloat(m[1], 64)
				order["total"] = f
			}
		}
		if m := customerRE().FindStringSubmatch(in.Text); m != nil && style != "sloppy" {
			order["customer"] = m[1]
		}
		resp.StructuredOutput, _ = json.Marshal(order)
		resp.Output = string(resp.StructuredOutput)
	case "reply":
		switch style {
		case "careful":
			resp.Output = "I'm sorry about this. I have issued a full refund to your original payment method; it will show within 5 business days."
		case "terse":
			resp.Output = "Sorry about that."
		default:
			resp.Output = "Not our problem, please contact the courier."
		}
	default:
		return repo.Response{Error: fmt.Sprintf("hello agent: unknown task %q (sentiment, extract or reply)", in.Task)}
	}
	resp.Usage.OutputTokens = int64(len(resp.Output)/4 + 1)
	return resp
}

var (
	orderIDRE  = lazy.Regexp(`#([A-Z]-\d+)`)
	totalRE    = lazy.Regexp(`\$(\d+(?:\.\d+)?)`)
	customerRE = lazy.Regexp(`\bfor ([A-Z][a-z]+ [A-Z][a-z]+)`)
	wordRE     = lazy.Regexp(`[a-z']+`)
)

var sentimentWords = map[string]int{
	"love": 1, "great": 1, "excellent": 1, "happy": 1, "fantastic": 1, "good": 1, "wonderful": 1, "thanks": 1,
	"terrible": -1, "awful": -1, "broken": -1, "hate": -1, "bad": -1, "late": -1, "disappointed": -1, "worst": -1,
}

func sentimentOf(text string) string {
	score := 0
	for _, w := range wordRE().FindAllString(strings.ToLower(text), -1) {
		score += sentimentWords[w]
	}
	switch {
	case score > 0:
		return "positive"
	case score < 0:
		return "negative"
	}
	return "neutral"
}

// fakeJudge is a deterministic judge for tests and examples. It reads the
// rubric and the agent's response from the prompt (the default judge
// template, or any template with a "Rubric:" section before an "Agent
// response:" section) and applies the rubric's rule lines, case-insensitively:
//
//	PASS IF CONTAINS: refund, sorry     all present → pass, some → partial, none → fail
//	PARTIAL IF CONTAINS: apolog         otherwise partial when present
//	FAIL IF CONTAINS: not our problem   fail when any is present (checked first)
//
// A rubric without a PASS IF CONTAINS line gets an answer that is not a
// verdict, so the grade is an error that says why.
func fakeJudge(req *repo.Request) repo.Response {
	var in struct {
		Messages []struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"messages"`
	}
	_ = json.Unmarshal(req.Input, &in)
	prompt := ""
	for _, m := range in.Messages {
		if m.Role == "user" || m.Role == "" {
			prompt = m.Content
		}
	}
	resp := repo.Response{Model: "builtin/fake_judge", Usage: repo.Usage{InputTokens: int64(len(prompt)/4 + 1), OutputTokens: 24}}
	head, response, ok := strings.Cut(prompt, "Agent response:")
	if !ok {
		resp.Output = "fake_judge: the prompt has no 'Agent response:' section"
		return resp
	}
	if i := strings.LastIndex(response, "\nReturn a single JSON object"); i >= 0 {
		response = response[:i]
	}
	response = strings.ToLower(response)
	var pass, partial, fail []string
	for _, line := range strings.Split(head, "\n") {
		m := ruleRE().FindStringSubmatch(line)
		if m == nil {
			continue
		}
		var words []string
		for _, w := range strings.Split(m[2], ",") {
			if w = strings.ToLower(strings.TrimSpace(w)); w != "" {
				words = append(words, w)
			}
		}
		switch strings.ToUpper(m[1]) {
		case "PASS":
			pass = append(pass, words...)
		case "PARTIAL":
			partial = append(partial, words...)
		case "FAIL":
			fail = append(fail, words...)
		}
	}
	if len(pass) == 0 {
		resp.Output = "fake_judge: the rubric has no 'PASS IF CONTAINS: word, ...' line, so I cannot decide"
		return resp
	}
	verdict := func(label string, score float64, reason string) {
		b, _ := json.Marshal(map[string]any{"label": label, "score": score, "reason": reason, "confidence": 1})
		resp.Output = string(b)
	}
	for _, w := range fail {
		if strings.Contains(response, w) {
			verdict("fail", 0, fmt.Sprintf("the response contains %q", w))
			return resp
		}
	}
	var found, missing []string
	for _, w := range pass {
		if strings.Contains(response, w) {
			found = append(found, w)
		} else {
			missing = append(missing, w)
		}
	}
	switch {
	case len(missing) == 0:
		verdict("pass", 1, fmt.Sprintf("the response contains %s", quoteAll(found)))
	case len(found) > 0:
		verdict("partial", float64(len(found))/float64(len(pass)), fmt.Sprintf("the response lacks %s", quoteAll(missing)))
	default:
		for _, w := range partial {
			if strings.Contains(response, w) {
				verdict("partial", 0.5, fmt.Sprintf("the response contains %q but lacks %s", w, quoteAll(missing)))
				return resp
			}
		}
		verdict("fail", 0, fmt.Sprintf("the response lacks %s", quoteAll(missing)))
	}
	return resp
}

var ruleRE = lazy.Regexp(`(?i)^\s*(?:[-*]\s*)?(PASS|PARTIAL|FAIL) IF CONTAINS:\s*(.+)$`)

func quoteAll(ws []string) string {
	q := make([]string, len(ws))
	for i, w := range ws {
		q[i] = strconv.Quote(w)
	}
	return strings.Join(q, ", ")
}
