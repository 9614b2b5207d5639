package graders

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/selfevals/selfevals/internal/lazy"
	"github.com/selfevals/selfevals/repo"
)

// Caller sends one request to the judge and returns its answer. The runner
// passes an adapter (command, http, openai, builtin); graders does not know
// which. A failed call returns an error; an error that implements
// Transient() bool and reports true is retried (graders[].retries), and one
// that implements ErrorKind() string names its kind in the grade's reason.
type Caller interface {
	Call(ctx context.Context, req *repo.Request) (repo.Response, error)
}

// VerdictCache stores judge answers by key (the judge's fingerprint and the
// hash of the rendered prompt are in the key), so an unchanged prompt is not
// sent twice. Only answers that parsed into a verdict are stored.
type VerdictCache interface {
	Get(key string) (repo.Response, bool)
	Put(key string, resp *repo.Response) error
}

// DefaultJudgeTemplate is the prompt an llm_judge sends unless its spec sets
// template:. It is the reference's text with this project's placeholders.
//
// Placeholders (a template may use any of them, each any number of times):
//
//	{{rubric}}    the grader's rubric
//	{{input}}     the case's input, as compact JSON
//	{{output}}    the agent's output text (its structured_output as JSON
//	              when it gave no text)
//	{{expected}}  the case's expected block as compact JSON, or (none)
//
// Values are substituted once: a placeholder inside the agent's output is
// not expanded again.
const DefaultJudgeTemplate = `You are an evaluator. Read the case input and the agent's response,
then decide whether the response meets the rubric.

Rubric:
{{rubric}}

Case input:
{{input}}

Agent response:
{{output}}

Return a single JSON object with keys:
- label: one of "pass", "fail", "partial"
- reason: short justification
- score: number in [0, 1] (optional)
- confidence: number in [0, 1] (optional)
`

// TemplatePlaceholders are the names a judge template may use.
var TemplatePlaceholders = repo.JudgePlaceholders

var placeholderRE = lazy.Regexp(`\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}`)

// Judge defaults.
const (
	DefaultJudgeTimeout     = 60 * time.Second
	DefaultJudgeRetries     = 2
	DefaultJudgeParallelism = 4
)

// Judge is the llm_judge grader: it renders the rubric into a prompt, asks
// the judge (any adapter) for a verdict, and parses it. It has its own
// parallelism, timeout, retries and cache, so a slow judge never holds more
// than its share of the run. It is safe for concurrent use.
type Judge struct {
	name       string
	rubric     string
	template   string
	caller     Caller
	card       *repo.GraderCard
	blocking   bool
	degraded   string // why a blocking judge is advisory; "" when it blocks
	sem        chan struct{}
	timeout    time.Duration
	retries    int
	backoff    time.Duration
	cache      VerdictCache
	cacheKey   string // the judge's fingerprint, prefixed to prompt hashes
	experiment string
}

// JudgeOption configures a Judge beyond its spec.
type JudgeOption func(*Judge)

// WithVerdictCache serves repeated prompts from c. fingerprint identifies
// the judge (its adapter block and program); it is part of every key.
func WithVerdictCache(c VerdictCache, fingerprint string) JudgeOption {
	return func(j *Judge) { j.cache, j.cacheKey = c, fingerprint }
}

// WithExperiment names the experiment in the judge request's metadata.
func WithExperiment(slug string) JudgeOption {
	return func(j *Judge) { j.experiment = slug }
}

// WithRetryBackoff sets the first retry's delay (default 200 ms; it
// doubles, with jitter).
func WithRetryBackoff(d time.Duration) JudgeOption {
	return func(j *Judge) { j.backoff = d }
}

// WithDefaultParallelism sets the parallelism used when the spec sets none
// (the runner passes run.parallelism).
func WithDefaultParallelism(n int) JudgeOption {
	return func(j *Judge) {
		if cap(j.sem) == 0 && n > 0 {
			j.sem = make(chan struct{}, n)
		}
	}
}

// NewJudge builds the llm_judge grader of a graders: entry. card may be nil;
// when the judge is blocking (spec blocking:, else the card's) and the card
// misses its thresholds, the judge degrades to advisory (ThresholdProblems).
func NewJudge(spec repo.GraderSpec, caller Caller, card *repo.GraderCard, opts ...JudgeOption) (*Judge, error) {
	if caller == nil {
		return nil, errors.New("llm_judge: no judge caller")
	}
	if strings.TrimSpace(spec.Rubric) == "" {
		return nil, &repo.UserError{Msg: "llm_judge: rubric is required", Hint: "write what a passing answer does in rubric:"}
	}
	tmpl := spec.Template
	if tmpl == "" {
		tmpl = DefaultJudgeTemplate
	}
	tmpl, err := normalizeTemplate(tmpl)
	if err != nil {
		return nil, err
	}
	j := &Judge{
		name: spec.GraderName(), rubric: strings.TrimSpace(spec.Rubric), template: tmpl, caller: caller, card: card,
		timeout: spec.Timeout.D(), retries: DefaultJudgeRetries, backoff: 200 * time.Millisecond,
	}
	if j.timeout <= 0 {
		j.timeout = DefaultJudgeTimeout
	}
	if spec.Retries != nil {
		j.retries = max(*spec.Retries, 0)
	}
	if spec.Parallelism > 0 {
		j.sem = make(chan struct{}, spec.Parallelism)
	}
	for _, o := range opts {
		o(j)
	}
	if j.sem == nil {
		j.sem = make(chan struct{}, DefaultJudgeParallelism)
	}
	switch {
	case spec.Blocking != nil:
		j.blocking = *spec.Blocking
	case card != nil:
		j.blocking = card.Blocking
	}
	if j.blocking {
		if card == nil {
			j.degraded = "blocking grader has no grader card (not calibrated); degraded to advisory"
		} else if probs := ThresholdProblems(card); len(probs) > 0 {
			j.degraded = "blocking grader below calibration thresholds (" + strings.Join(probs, "; ") + "); degraded to advisory"
		}
	}
	return j, nil
}

// normalizeTemplate checks a template's placeholders and writes each as
// {{name}} (so "{{ rubric }}" works too).
func normalizeTemplate(t string) (string, error) {
	var unknown []string
	out := placeholderRE().ReplaceAllStringFunc(t, func(m string) string {
		name := placeholderRE().FindStringSubmatch(m)[1]
		for _, k := range TemplatePlaceholders {
			if k == name {
				return "{{" + name + "}}"
			}
		}
		unknown = append(unknown, name)
		return m
	})
	if len(unknown) > 0 {
		return "", &repo.UserError{
			Msg:  fmt.Sprintf("llm_judge template: unknown placeholder {{%s}}", unknown[0]),
			Hint: "available: {{rubric}}, {{input}}, {{output}}, {{expected}}",
		}
	}
	if !strings.Contains(out, "{{output}}") {
		return "", &repo.UserError{Msg: "llm_judge template: no {{output}} placeholder", Hint: "the judge would never see the agent's answer"}
	}
	return out, nil
}

// CheckTemplate reports what is wrong with a judge template (for the
// loader), or nil.
func CheckTemplate(t string) error {
	_, err := normalizeTemplate(t)
	return err
}

// ThresholdProblems lists the thresholds a card misses, as "precision 0.8 <
// 0.9". A missing metric misses its threshold. A card with no thresholds at
// all is held to the strict ones a blocking card must declare (precision
// 0.90, recall 0.95, no high-risk false negatives).
func ThresholdProblems(card *repo.GraderCard) []string {
	t := card.Thresholds
	if t.MinPrecision == nil && t.MinRecall == nil && t.MinF1 == nil && t.MaxHighRiskFalseNegatives == nil {
		p, r, z := 0.90, 0.95, 0
		t = repo.CardThresholds{MinPrecision: &p, MinRecall: &r, MaxHighRiskFalseNegatives: &z}
	}
	m := card.Metrics
	var out []string
	atLeast := func(name string, v, min *float64) {
		switch {
		case min == nil:
		case v == nil:
			out = append(out, fmt.Sprintf("%s missing, needs >= %s", name, repo.FormatNumber(*min)))
		case *v < *min:
			out = append(out, fmt.Sprintf("%s %s < %s", name, repo.FormatNumber(*v), repo.FormatNumber(*min)))
		}
	}
	atLeast("precision", m.Precision, t.MinPrecision)
	atLeast("recall", m.Recall, t.MinRecall)
	atLeast("f1", m.F1, t.MinF1)
	if t.MaxHighRiskFalseNegatives != nil {
		switch {
		case m.HighRiskFalseNegatives == nil:
			out = append(out, fmt.Sprintf("high_risk_false_negatives missing, needs <= %d", *t.MaxHighRiskFalseNegatives))
		case *m.HighRiskFalseNegatives > *t.MaxHighRiskFalseNegatives:
			out = append(out, fmt.Sprintf("high_risk_false_negatives %d > %d", *m.HighRiskFalseNegatives, *t.MaxHighRiskFalseNegatives))
		}
	}
	return out
}

// Name is the grader's name.
func (j *Judge) Name() string { return j.name }

// Degraded is why a blocking judge runs as advisory, or "".
func (j *Judge) Degraded() string { return j.degraded }

// Grade asks the judge for a verdict on the trace. A failed agent call is
// not sent to the judge. A blocking judge below its card's thresholds still
// asks, but its grade is skipped and the verdict is kept in details as
// advisory.
func (j *Judge) Grade(ctx context.Context, c *repo.Case, t *repo.Trace) repo.Grade {
	if t.Failed() {
		reason := "agent call failed: " + t.Error
		if t.ErrorKind != "" {
			reason = "agent call failed (" + t.ErrorKind + "): " + t.Error
		}
		return repo.Grade{Grader: j.name, Label: repo.Error, Reason: reason}
	}
	g := j.Evaluate(ctx, c, t)
	if j.degraded == "" {
		return g
	}
	details := map[string]any{"advisory": map[string]any{"label": g.Label, "reason": g.Reason}}
	if j.card != nil && j.card.State != "" {
		details["card_state"] = j.card.State
	}
	return repo.Grade{Grader: j.name, Label: repo.Skipped, Reason: j.degraded, Details: details}
}

// Prompt renders the judge's prompt for a case and trace.
func (j *Judge) Prompt(c *repo.Case, t *repo.Trace) string {
	input, expected := "null", "(none)"
	if c != nil {
		if len(c.Input) > 0 {
			input = compactJSON(c.Input)
		}
		if c.Expected != nil {
			if b, err := marshalNoEscape(c.Expected); err == nil {
				expected = string(b)
			}
		}
	}
	output := t.Output
	if output == "" && len(t.StructuredOutput) > 0 {
		output = compactJSON(t.StructuredOutput)
	}
	return strings.NewReplacer("{{rubric}}", j.rubric, "{{input}}", input, "{{output}}", output, "{{expected}}", expected).Replace(j.template)
}

func compactJSON(raw []byte) string {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return string(raw)
	}
	b, err := marshalNoEscape(v)
	if err != nil {
		return string(raw)
	}
	return string(b)
}

// marshalNoEscape is json.Marshal without HTML escaping (a judge should
// read "<b>" as written) and without the trailing newline.
func marshalNoEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// judgeContext marks a request as a judge call (request.context), so one
// program can serve as agent and judge and tell the two apart.
type judgeContext struct {
	Judge  bool   `json:"judge"`
	Grader string `json:"grader"`
}

// Evaluate asks the judge and parses its verdict, whatever the card says
// (calibration uses it directly). It never fails: a judge that cannot be
// reached, times out or answers something that is not a verdict gives an
// error grade with the reason (and the raw answer, truncated, in details).
func (j *Judge) Evaluate(ctx context.Context, c *repo.Case, t *repo.Trace) repo.Grade {
	prompt := j.Prompt(c, t)
	sum := sha256.Sum256([]byte(prompt))
	key := j.cacheKey + "/" + hex.EncodeToString(sum[:16])
	if j.cache != nil {
		if resp, ok := j.cache.Get(key); ok {
			if v, err := ParseVerdict(resp.Output); err == nil {
				g := j.verdictGrade(v, &resp)
				g.Details["cached"] = true
				return g
			}
		}
	}

	input, _ := marshalNoEscape(map[string]any{"messages": []map[string]string{{"role": "user", "content": prompt}}})
	jc, _ := json.Marshal(judgeContext{Judge: true, Grader: j.name})
	req := &repo.Request{Input: input, Context: jc, Parameters: repo.Parameters{},
		Metadata: repo.RequestMetadata{Experiment: j.experiment, Iteration: t.Iteration, Repetition: t.Repetition}}
	if c != nil {
		req.CaseID = c.ID
	}

	select {
	case j.sem <- struct{}{}:
	case <-ctx.Done():
		return j.errorGrade("judge call canceled (the run was interrupted)", "")
	}
	defer func() { <-j.sem }()

	var resp repo.Response
	var err error
	attempts := 0
	for {
		attempts++
		callCtx, cancel := context.WithTimeout(ctx, j.timeout)
		resp, err = j.caller.Call(callCtx, req)
		timedOut := callCtx.Err() == context.DeadlineExceeded && ctx.Err() == nil
		cancel()
		if err != nil && (timedOut || errorKind(err) == repo.ErrTimeout) && ctx.Err() == nil {
			err = &judgeTimeout{j.timeout}
		}
		if err == nil || ctx.Err() != nil || attempts > j.retries || !transient(err) {
			break
		}
		if !sleepCtx(ctx, j.retryDelay(attempts-1)) {
			break
		}
	}
	switch {
	case err != nil && ctx.Err() != nil:
		return j.errorGrade("judge call canceled (the run was interrupted)", "")
	case err != nil:
		var to *judgeTimeout
		if errors.As(err, &to) {
			return j.errorGrade(fmt.Sprintf("judge did not answer within %s (raise the grader's timeout: if it is just slow)", j.timeout), "")
		}
		kind := ""
		if k := errorKind(err); k != "" {
			kind = " (" + k + ")"
		}
		g := j.errorGrade("judge call failed"+kind+": "+truncate(err.Error(), 300), "")
		if attempts > 1 {
			g.Details = map[string]any{"attempts": attempts}
		}
		return g
	case resp.Error != "":
		return j.errorGrade("judge answered with an error: "+truncate(resp.Error, 300), "")
	}
	v, perr := ParseVerdict(resp.Output)
	if perr != nil {
		return j.errorGrade(fmt.Sprintf("could not parse judge verdict: %v; text=%q", perr, truncate(resp.Output, 200)), resp.Output)
	}
	g := j.verdictGrade(v, &resp)
	if j.cache != nil {
		// A cache that cannot be written costs speed, not correctness.
		_ = j.cache.Put(key, &resp)
	}
	return g
}

func (j *Judge) verdictGrade(v Verdict, resp *repo.Response) repo.Grade {
	g := repo.Grade{Grader: j.name, Label: v.Label, Score: v.Score, Confidence: v.Confidence, Reason: v.Reason, Details: map[string]any{}}
	if resp.Model != "" {
		g.Details["judge_model"] = resp.Model
	}
	if resp.CostReported || resp.CostUSD > 0 {
		// What the judge call cost, so estimate can price the next run's.
		g.Details["cost_usd"] = resp.CostUSD
	}
	if len(v.Notes) > 0 {
		g.Details["notes"] = v.Notes
	}
	return g
}

func (j *Judge) errorGrade(reason, raw string) repo.Grade {
	g := repo.Grade{Grader: j.name, Label: repo.Error, Reason: reason}
	if raw != "" {
		g.Details = map[string]any{"raw": truncate(raw, 2000)}
	}
	return g
}

func (j *Judge) retryDelay(retry int) time.Duration {
	d := j.backoff << min(retry, 16)
	d = min(d, 10*time.Second)
	return d/2 + rand.N(d/2+1)
}

type judgeTimeout struct{ d time.Duration }

func (e *judgeTimeout) Error() string { return fmt.Sprintf("judge did not answer within %s", e.d) }

func errorKind(err error) string {
	var k interface{ ErrorKind() string }
	if errors.As(err, &k) {
		return k.ErrorKind()
	}
	return ""
}

func transient(err error) bool {
	var t interface{ Transient() bool }
	return errors.As(err, &t) && t.Transient()
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// Verdict is a judge's parsed answer.
type Verdict struct {
	Label      repo.Label
	Score      *float64
	Confidence *float64
	Reason     string
	// Notes say what was ignored (a score outside [0, 1], say).
	Notes []string
}

// VerdictError is why a judge's answer is not a verdict.
type VerdictError struct{ Msg string }

func (e *VerdictError) Error() string { return e.Msg }

var fenceRE = lazy.Regexp("(?s)```[ \t]*([A-Za-z0-9_-]*)[ \t]*\r?\n(.*?)```")

// maxObjectTries bounds the last-resort scan for a {...} object, so a huge
// answer full of braces cannot make parsing quadratic.
const maxObjectTries = 32

// ParseVerdict reads a judge's answer: the whole text as a JSON object, else
// the first ```json (or unlabelled) fenced block holding an object, else
// the first balanced {...} object in the text. The object needs a label
// (pass, fail or partial, any case); score and confidence are kept when
// they are numbers in [0, 1] and ignored with a note otherwise; a blank or
// missing reason becomes "no reason supplied".
func ParseVerdict(text string) (Verdict, error) {
	t := strings.TrimSpace(text)
	if t == "" {
		return Verdict{}, &VerdictError{"the judge returned an empty answer"}
	}
	obj, err := objectOf(t)
	if err != nil {
		return Verdict{}, err
	}
	return verdictOf(obj)
}

func objectOf(t string) (map[string]json.RawMessage, error) {
	var whole any
	if err := json.Unmarshal([]byte(t), &whole); err == nil {
		if _, ok := whole.(map[string]any); ok {
			return decodeObject(t)
		}
		return nil, &VerdictError{fmt.Sprintf("the judge's JSON must be an object, got %s", jsonKind(whole))}
	}
	for _, m := range fenceRE().FindAllStringSubmatch(t, -1) {
		lang := strings.ToLower(m[1])
		if lang != "" && lang != "json" {
			continue
		}
		if obj, err := decodeObject(strings.TrimSpace(m[2])); err == nil {
			return obj, nil
		}
	}
	tries := 0
	for i := 0; i < len(t) && tries < maxObjectTries; i++ {
		if t[i] != '{' {
			continue
		}
		tries++
		if end := matchingBrace(t, i); end > 0 {
			if obj, err := decodeObject(t[i : end+1]); err == nil {
				return obj, nil
			}
		}
	}
	return nil, &VerdictError{"the judge did not return a JSON object (whole text, ```json block or {...})"}
}

func decodeObject(s string) (map[string]json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &obj); err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, errors.New("null")
	}
	return obj, nil
}

// matchingBrace is the index of the '}' closing the '{' at i, skipping
// braces inside JSON strings, or -1.
func matchingBrace(s string, i int) int {
	depth, inStr, esc := 0, false, false
	for k := i; k < len(s); k++ {
		ch := s[k]
		switch {
		case inStr && esc:
			esc = false
		case inStr && ch == '\\':
			esc = true
		case inStr && ch == '"':
			inStr = false
		case inStr:
		case ch == '"':
			inStr = true
		case ch == '{':
			depth++
		case ch == '}':
			depth--
			if depth == 0 {
				return k
			}
		}
	}
	return -1
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("%T", v)
}

func verdictOf(obj map[string]json.RawMessage) (Verdict, error) {
	// Keys match case-insensitively (Label, LABEL); the lower-cased key
	// first in sorted order wins, so the result does not depend on map order.
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	field := map[string]json.RawMessage{}
	for _, k := range keys {
		lk := strings.ToLower(strings.TrimSpace(k))
		if _, ok := field[lk]; !ok {
			field[lk] = obj[k]
		}
	}
	var v Verdict
	raw, ok := field["label"]
	if !ok {
		return v, &VerdictError{`the judge's verdict has no "label" (want pass, fail or partial)`}
	}
	var label string
	if err := json.Unmarshal(raw, &label); err != nil {
		return v, &VerdictError{fmt.Sprintf("the judge's label must be a string, got %s", truncate(string(raw), 60))}
	}
	switch l := repo.Label(strings.ToLower(strings.TrimSpace(label))); l {
	case repo.Pass, repo.Fail, repo.Partial:
		v.Label = l
	default:
		return v, &VerdictError{fmt.Sprintf("the judge returned unknown label %q (want pass, fail or partial)", truncate(label, 60))}
	}
	v.Score = unitNumber(field, "score", &v.Notes)
	v.Confidence = unitNumber(field, "confidence", &v.Notes)
	if raw, ok := field["reason"]; ok {
		var s string
		if err := json.Unmarshal(raw, &s); err == nil {
			v.Reason = strings.TrimSpace(s)
		} else if string(raw) != "null" {
			v.Reason = strings.TrimSpace(string(raw))
			v.Notes = append(v.Notes, "reason is not a string; kept as JSON")
		}
	}
	if v.Reason == "" {
		v.Reason = "no reason supplied"
	}
	return v, nil
}

func unitNumber(field map[string]json.RawMessage, name string, notes *[]string) *float64 {
	raw, ok := field[name]
	if !ok || string(raw) == "null" {
		return nil
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil {
		*notes = append(*notes, fmt.Sprintf("%s ignored: %s is not a number", name, truncate(string(raw), 40)))
		return nil
	}
	if !(f >= 0 && f <= 1) {
		*notes = append(*notes, fmt.Sprintf("%s ignored: %s is outside [0, 1]", name, repo.FormatNumber(f)))
		return nil
	}
	return &f
}
