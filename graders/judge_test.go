package graders

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/selfevals/selfevals/repo"
)

// callerFunc is a Caller made of a function (the unit tests' judge; the
// runner tests use real subprocess and HTTP judges).
type callerFunc func(ctx context.Context, req *repo.Request) (repo.Response, error)

func (f callerFunc) Call(ctx context.Context, req *repo.Request) (repo.Response, error) {
	return f(ctx, req)
}

func answer(text string) callerFunc {
	return func(context.Context, *repo.Request) (repo.Response, error) { return repo.Response{Output: text}, nil }
}

func judgeSpec() repo.GraderSpec {
	return repo.GraderSpec{Type: "llm_judge", Name: "j", Rubric: "Is it polite?", Judge: &repo.Agent{Builtin: "fake_judge"}}
}

func newTestJudge(t *testing.T, spec repo.GraderSpec, c Caller, card *repo.GraderCard, opts ...JudgeOption) *Judge {
	t.Helper()
	j, err := NewJudge(spec, c, card, append([]JudgeOption{WithRetryBackoff(time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

var testCase = &repo.Case{ID: "case_1", Input: json.RawMessage(`{"messages":[{"role":"user","content":"ping"}]}`)}

func f64(v float64) *float64 { return &v }

func TestJudgeVerdicts(t *testing.T) {
	for _, tc := range []struct {
		name, answer string
		label        repo.Label
		reason       string // substring
		score        *float64
		notes        string
	}{
		{"plain JSON", `{"label": "pass", "reason": "polite", "score": 0.9, "confidence": 0.8}`, repo.Pass, "polite", f64(0.9), ""},
		{"upper-case label, blank reason", `{"label": "PARTIAL", "reason": "  "}`, repo.Partial, "no reason supplied", nil, ""},
		{"fenced", "Here is my verdict:\n```json\n{\"label\": \"fail\", \"reason\": \"rude\"}\n```\nThanks.", repo.Fail, "rude", nil, ""},
		{"unlabelled fence", "```\n{\"label\": \"pass\", \"reason\": \"ok\"}\n```", repo.Pass, "ok", nil, ""},
		{"object in prose", `I think {"label": "fail", "reason": "has a } brace"} is right`, repo.Fail, "has a } brace", nil, ""},
		{"score out of range", `{"label": "pass", "reason": "ok", "score": 7}`, repo.Pass, "ok", nil, "score ignored: 7 is outside [0, 1]"},
		{"score not a number", `{"label": "pass", "reason": "ok", "score": "high"}`, repo.Pass, "ok", nil, "score ignored"},
		{"garbage", "I cannot decide.", repo.Error, "could not parse judge verdict", nil, ""},
		{"unknown label", `{"label": "maybe", "reason": "?"}`, repo.Error, `unknown label "maybe"`, nil, ""},
		{"skipped is not a verdict", `{"label": "skipped"}`, repo.Error, `unknown label "skipped"`, nil, ""},
		{"no label", `{"reason": "x"}`, repo.Error, `no "label"`, nil, ""},
		{"array", `[{"label": "pass"}]`, repo.Error, "must be an object, got an array", nil, ""},
		{"empty", "  ", repo.Error, "empty answer", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := newTestJudge(t, judgeSpec(), answer(tc.answer), nil)
			g := j.Grade(context.Background(), testCase, &repo.Trace{Output: "pong"})
			if g.Label != tc.label || !strings.Contains(g.Reason, tc.reason) {
				t.Fatalf("got %s %q, want %s containing %q", g.Label, g.Reason, tc.label, tc.reason)
			}
			if g.Grader != "j" {
				t.Errorf("grader %q", g.Grader)
			}
			if (g.Score == nil) != (tc.score == nil) || (g.Score != nil && *g.Score != *tc.score) {
				t.Errorf("score %v, want %v", g.Score, tc.score)
			}
			if tc.notes != "" {
				notes, _ := g.Details["notes"].([]string)
				if len(notes) == 0 || !strings.Contains(notes[0], tc.notes) {
					t.Errorf("notes %v, want %q", notes, tc.notes)
				}
			}
			if g.Label == repo.Error && strings.TrimSpace(tc.answer) != "" {
				if raw, _ := g.Details["raw"].(string); raw != tc.answer {
					t.Errorf("raw answer not kept: %q", raw)
				}
			}
			if len(g.FailureModes) > 0 {
				t.Errorf("judge grades carry no failure modes: %v", g.FailureModes)
			}
		})
	}
}

// The prompt is the template with the rubric, input and output; the
// request is a judge call in chat form.
func TestJudgeRequest(t *testing.T) {
	var got *repo.Request
	j := newTestJudge(t, judgeSpec(), callerFunc(func(_ context.Context, req *repo.Request) (repo.Response, error) {
		got = req
		return repo.Response{Output: `{"label":"pass"}`}, nil
	}), nil, WithExperiment("hello"))
	j.Grade(context.Background(), testCase, &repo.Trace{Output: "PONG! {{rubric}}", Iteration: 2, Repetition: 1})
	var in struct {
		Messages []struct{ Role, Content string } `json:"messages"`
	}
	if err := json.Unmarshal(got.Input, &in); err != nil || len(in.Messages) != 1 || in.Messages[0].Role != "user" {
		t.Fatalf("input %s", got.Input)
	}
	want := strings.NewReplacer("{{rubric}}", "Is it polite?", "{{input}}", `{"messages":[{"content":"ping","role":"user"}]}`, "{{output}}", "PONG! {{rubric}}").Replace(DefaultJudgeTemplate)
	if in.Messages[0].Content != want {
		t.Errorf("prompt:\n%s\nwant:\n%s", in.Messages[0].Content, want)
	}
	if string(got.Context) != `{"judge":true,"grader":"j"}` {
		t.Errorf("context %s", got.Context)
	}
	if got.CaseID != "case_1" || got.Metadata.Experiment != "hello" || got.Metadata.Iteration != 2 || got.Metadata.Repetition != 1 {
		t.Errorf("request %+v", got)
	}

	spec := judgeSpec()
	spec.Template = "R={{ rubric }} E={{expected}} O={{output}}"
	j = newTestJudge(t, spec, answer(""), nil)
	c := &repo.Case{Input: json.RawMessage(`{}`), Expected: &repo.Expected{MustInclude: []string{"<b>"}}}
	if p := j.Prompt(c, &repo.Trace{StructuredOutput: json.RawMessage(`{"a": 1}`)}); p != `R=Is it polite? E={"must_include":["<b>"]} O={"a":1}` {
		t.Errorf("custom template: %s", p)
	}
	for _, bad := range []string{"{{rubric}} {{reply}} {{output}}", "{{rubric}} only"} {
		spec.Template = bad
		if _, err := NewJudge(spec, answer(""), nil); err == nil || !repo.IsUserError(err) {
			t.Errorf("template %q: %v", bad, err)
		}
	}
}

type callErr struct {
	transient bool
	kind      string
}

func (e callErr) Error() string     { return "connection refused" }
func (e callErr) Transient() bool   { return e.transient }
func (e callErr) ErrorKind() string { return e.kind }

func TestJudgeFailures(t *testing.T) {
	ctx := context.Background()

	// A failed agent call is not sent to the judge.
	called := false
	j := newTestJudge(t, judgeSpec(), callerFunc(func(context.Context, *repo.Request) (repo.Response, error) {
		called = true
		return repo.Response{}, nil
	}), nil)
	g := j.Grade(ctx, testCase, &repo.Trace{Error: "boom", ErrorKind: repo.ErrExit})
	if called || g.Label != repo.Error || g.Reason != "agent call failed (exit_status): boom" {
		t.Errorf("failed trace: called=%v %+v", called, g)
	}

	// Transient errors are retried (retries: 2 → 3 attempts), others not.
	var n atomic.Int32
	j = newTestJudge(t, judgeSpec(), callerFunc(func(context.Context, *repo.Request) (repo.Response, error) {
		if n.Add(1) < 3 {
			return repo.Response{}, callErr{true, repo.ErrConnection}
		}
		return repo.Response{Output: `{"label":"pass"}`}, nil
	}), nil)
	if g := j.Grade(ctx, testCase, &repo.Trace{Output: "x"}); g.Label != repo.Pass || n.Load() != 3 {
		t.Errorf("transient: %d attempts, %+v", n.Load(), g)
	}
	n.Store(0)
	j = newTestJudge(t, judgeSpec(), callerFunc(func(context.Context, *repo.Request) (repo.Response, error) {
		n.Add(1)
		return repo.Response{}, callErr{false, repo.ErrHTTPStatus}
	}), nil)
	if g := j.Grade(ctx, testCase, &repo.Trace{Output: "x"}); g.Label != repo.Error || n.Load() != 1 || g.Reason != "judge call failed (http_status): connection refused" {
		t.Errorf("permanent: %d attempts, %+v", n.Load(), g)
	}

	// A judge answering with an error.
	j = newTestJudge(t, judgeSpec(), callerFunc(func(context.Context, *repo.Request) (repo.Response, error) {
		return repo.Response{Error: "quota exceeded"}, nil
	}), nil)
	if g := j.Grade(ctx, testCase, &repo.Trace{Output: "x"}); g.Label != repo.Error || !strings.Contains(g.Reason, "quota exceeded") {
		t.Errorf("judge error: %+v", g)
	}

	// A judge that hangs is cut at its timeout.
	spec := judgeSpec()
	spec.Timeout = repo.Duration(50 * time.Millisecond)
	j = newTestJudge(t, spec, callerFunc(func(ctx context.Context, _ *repo.Request) (repo.Response, error) {
		<-ctx.Done()
		return repo.Response{}, ctx.Err()
	}), nil)
	start := time.Now()
	g = j.Grade(ctx, testCase, &repo.Trace{Output: "x"})
	if g.Label != repo.Error || !strings.Contains(g.Reason, "did not answer within 50ms") || time.Since(start) > 5*time.Second {
		t.Errorf("timeout: %+v", g)
	}

	// An interrupted run.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if g := j.Grade(cctx, testCase, &repo.Trace{Output: "x"}); g.Label != repo.Error || !strings.Contains(g.Reason, "canceled") {
		t.Errorf("canceled: %+v", g)
	}
}

// parallelism: bounds the judge calls in flight.
func TestJudgeParallelism(t *testing.T) {
	spec := judgeSpec()
	spec.Parallelism = 2
	var inFlight, peak atomic.Int32
	j := newTestJudge(t, spec, callerFunc(func(context.Context, *repo.Request) (repo.Response, error) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
		inFlight.Add(-1)
		return repo.Response{Output: `{"label":"pass"}`}, nil
	}), nil)
	var wg sync.WaitGroup
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j.Grade(context.Background(), testCase, &repo.Trace{Output: "x"})
		}()
	}
	wg.Wait()
	if peak.Load() > 2 {
		t.Errorf("%d judge calls in flight, want at most 2", peak.Load())
	}
}

type mapCache struct {
	mu sync.Mutex
	m  map[string]repo.Response
}

func (c *mapCache) Get(k string) (repo.Response, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.m[k]
	return r, ok
}

func (c *mapCache) Put(k string, r *repo.Response) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[k] = *r
	return nil
}

// Verdicts are cached by prompt; garbage is not.
func TestJudgeCache(t *testing.T) {
	cache := &mapCache{m: map[string]repo.Response{}}
	var calls atomic.Int32
	reply := `{"label":"pass"}`
	j := newTestJudge(t, judgeSpec(), callerFunc(func(context.Context, *repo.Request) (repo.Response, error) {
		calls.Add(1)
		return repo.Response{Output: reply}, nil
	}), nil, WithVerdictCache(cache, "jdg_x"))
	for range 3 {
		j.Grade(context.Background(), testCase, &repo.Trace{Output: "same"})
	}
	g := j.Grade(context.Background(), testCase, &repo.Trace{Output: "same"})
	if calls.Load() != 1 || g.Details["cached"] != true {
		t.Errorf("%d calls for one prompt; details %v", calls.Load(), g.Details)
	}
	reply = "garbage"
	j.Grade(context.Background(), testCase, &repo.Trace{Output: "other"})
	j.Grade(context.Background(), testCase, &repo.Trace{Output: "other"})
	if calls.Load() != 3 || len(cache.m) != 1 {
		t.Errorf("garbage cached: %d calls, %d entries", calls.Load(), len(cache.m))
	}
}

// A blocking judge below its card's thresholds is advisory: skipped, with
// the verdict kept in details. A non-blocking one grades normally.
func TestJudgeCardDegrade(t *testing.T) {
	p, r, z, hr := 0.9, 0.95, 0, 1
	low := &repo.GraderCard{Name: "j", Blocking: true, State: "calibrated",
		Metrics:    repo.CardMetrics{Precision: f64(0.95), Recall: f64(0.8), HighRiskFalseNegatives: &hr},
		Thresholds: repo.CardThresholds{MinPrecision: &p, MinRecall: &r, MaxHighRiskFalseNegatives: &z}}
	j := newTestJudge(t, judgeSpec(), answer(`{"label":"fail","reason":"rude"}`), low)
	g := j.Grade(context.Background(), testCase, &repo.Trace{Output: "x"})
	want := "blocking grader below calibration thresholds (recall 0.8 < 0.95; high_risk_false_negatives 1 > 0); degraded to advisory"
	if g.Label != repo.Skipped || g.Reason != want {
		t.Errorf("got %s %q\nwant %q", g.Label, g.Reason, want)
	}
	if adv, _ := g.Details["advisory"].(map[string]any); adv["label"] != repo.Fail || g.Details["card_state"] != "calibrated" {
		t.Errorf("details %v", g.Details)
	}

	// Missing metrics miss their thresholds.
	missing := &repo.GraderCard{Name: "j", Blocking: true, Thresholds: low.Thresholds}
	if probs := ThresholdProblems(missing); len(probs) != 3 || probs[0] != "precision missing, needs >= 0.9" {
		t.Errorf("missing metrics: %v", probs)
	}

	good := *low
	good.Metrics = repo.CardMetrics{Precision: f64(0.95), Recall: f64(0.97), HighRiskFalseNegatives: &z}
	if g := newTestJudge(t, judgeSpec(), answer(`{"label":"fail"}`), &good).Grade(context.Background(), testCase, &repo.Trace{Output: "x"}); g.Label != repo.Fail {
		t.Errorf("calibrated blocking judge: %+v", g)
	}
	advisory := *low
	advisory.Blocking = false
	if g := newTestJudge(t, judgeSpec(), answer(`{"label":"fail"}`), &advisory).Grade(context.Background(), testCase, &repo.Trace{Output: "x"}); g.Label != repo.Fail {
		t.Errorf("non-blocking judge: %+v", g)
	}
	// blocking: true in the spec without a card.
	spec := judgeSpec()
	yes := true
	spec.Blocking = &yes
	if g := newTestJudge(t, spec, answer(`{"label":"pass"}`), nil).Grade(context.Background(), testCase, &repo.Trace{Output: "x"}); g.Label != repo.Skipped || !strings.Contains(g.Reason, "no grader card") {
		t.Errorf("blocking without a card: %+v", g)
	}
}

func TestNewJudgeErrors(t *testing.T) {
	if _, err := NewJudge(judgeSpec(), nil, nil); err == nil {
		t.Error("no caller accepted")
	}
	spec := judgeSpec()
	spec.Rubric = " "
	if _, err := NewJudge(spec, answer(""), nil); !repo.IsUserError(err) {
		t.Errorf("blank rubric: %v", err)
	}
	var ve *VerdictError
	if _, err := ParseVerdict("nope"); !errors.As(err, &ve) {
		t.Errorf("ParseVerdict error type %T", err)
	}
}

// FuzzParseVerdict: no input panics, a verdict always has a known label and
// in-range numbers, and an error is always a VerdictError.
func FuzzParseVerdict(f *testing.F) {
	for _, s := range []string{
		`{"label": "pass", "reason": "ok", "score": 1, "confidence": 0.5}`,
		`{"label": "FAIL"}`,
		"```json\n{\"label\": \"partial\"}\n```",
		"```\n{\"label\": \"pass\"}\n```",
		"prose {\"label\": \"fail\", \"reason\": \"a \\\" quote }\"} more",
		`{"label": 3}`,
		`{"Label": "pass", "label": "fail"}`,
		`{"label": "pass", "score": -0.1, "confidence": "x"}`,
		`[1, 2]`, `null`, `"pass"`, `{`, `{{{{`, "```json\nnot json\n```", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVerdict(s)
		if err != nil {
			var ve *VerdictError
			if !errors.As(err, &ve) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		switch v.Label {
		case repo.Pass, repo.Fail, repo.Partial:
		default:
			t.Fatalf("label %q", v.Label)
		}
		for _, x := range []*float64{v.Score, v.Confidence} {
			if x != nil && (*x < 0 || *x > 1) {
				t.Fatalf("number %v out of range", *x)
			}
		}
		if v.Reason == "" {
			t.Fatal("empty reason")
		}
	})
}
