package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/selfevals/selfevals/graders"
	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/runner/adapters"
)

// GraderFactories builds the grader types that need the runner: llm_judge,
// whose judge is reached through an adapter. The returned close function
// releases every judge adapter and cache opened; call it when the run (or
// regrade, or calibration) ends. noCache turns the judge cache off, as
// --no-cache does for agent calls (run.cache: false too).
func GraderFactories(ls *repo.LoadedSpec, evalsDir string, opts JudgeOptions) (map[string]graders.Factory, func() error) {
	var mu sync.Mutex
	var closers []func() error
	factories := map[string]graders.Factory{
		"llm_judge": func(spec repo.GraderSpec) (graders.Grader, error) {
			j, closeJudge, err := NewJudge(ls, spec, evalsDir, opts)
			if err != nil {
				return nil, err
			}
			mu.Lock()
			closers = append(closers, closeJudge)
			mu.Unlock()
			return j, nil
		},
	}
	return factories, func() error {
		mu.Lock()
		defer mu.Unlock()
		var errs []error
		for _, c := range closers {
			errs = append(errs, c())
		}
		closers = nil
		return errors.Join(errs...)
	}
}

// JudgeOptions change how NewJudge builds a judge.
type JudgeOptions struct {
	NoCache bool
	// IgnoreCard builds the judge without its card (calibration measures
	// the judge itself, so it must not degrade it).
	IgnoreCard bool
	// Env is the environment of the judge's adapter.
	Env AgentEnv
}

// AgentEnv is the environment agents and judges run in: ${NAME} in their
// blocks expands from Lookup, and a command starts with Environ. Nil
// fields mean the process's own.
type AgentEnv struct {
	Lookup  func(string) (string, bool)
	Environ []string
}

func (e AgentEnv) apply(o adapters.Options) adapters.Options {
	o.LookupEnv, o.Environ = e.Lookup, e.Environ
	return o
}

// NewJudge builds one llm_judge grader of an experiment: its adapter, its
// card (card: relative to the spec, else evals/graders/<name>.yaml when
// that exists) and its verdict cache under evals/.cache/judge/.
func NewJudge(ls *repo.LoadedSpec, spec repo.GraderSpec, evalsDir string, opts JudgeOptions) (*graders.Judge, func() error, error) {
	name := spec.GraderName()
	if spec.Judge == nil {
		return nil, nil, &repo.UserError{Msg: fmt.Sprintf("grader %s: an llm_judge needs a judge: adapter", name),
			Hint: "e.g. judge: {openai: {base_url: http://127.0.0.1:11434/v1, model: llama3.2}} or judge: {builtin: fake_judge}"}
	}
	e := &ls.Spec.Experiment
	var card *repo.GraderCard
	if !opts.IgnoreCard {
		path := CardPath(ls, spec, evalsDir)
		if _, err := os.Stat(path); err == nil || spec.Card != "" {
			c, err := repo.LoadGraderCard(path)
			if err != nil {
				return nil, nil, fmt.Errorf("grader %s: %w", name, err)
			}
			if c.Name != name {
				return nil, nil, &repo.UserError{Msg: fmt.Sprintf("grader %s: card %s is the card of grader %q", name, path, c.Name),
					Hint: "set the card's name: to the grader's name, or point card: at the right file"}
			}
			card = c
		}
	}
	parallel := spec.Parallelism
	if parallel <= 0 {
		parallel = max(e.Run.Parallelism, 1)
	}
	timeout := spec.Timeout.D()
	if timeout <= 0 {
		timeout = graders.DefaultJudgeTimeout
	}
	// The judge retries transient failures itself (graders[].retries), so
	// the adapter does not retry as well; and the adapter's own timeout is a backstop: the judge's deadline on each
	// call comes first.
	adapter, err := adapters.New(*spec.Judge, opts.Env.apply(adapters.Options{RepoRoot: ls.Root, Parallelism: parallel, Timeout: timeout + time.Second}))
	if err != nil {
		return nil, nil, fmt.Errorf("grader %s: judge: %w", name, err)
	}
	closers := []func() error{adapter.Close}
	closeAll := func() error {
		var errs []error
		for _, c := range closers {
			errs = append(errs, c())
		}
		return errors.Join(errs...)
	}
	jopts := []graders.JudgeOption{graders.WithExperiment(ls.Slug), graders.WithDefaultParallelism(parallel)}
	if !opts.NoCache && e.Run.CacheEnabled() {
		fp, err := JudgeFingerprint(ls, *spec.Judge)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("grader %s: %w", name, err)
		}
		cache, err := OpenCache(repo.Dir(evalsDir).JudgeCache(), fp)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		closers = append(closers, cache.Close)
		jopts = append(jopts, graders.WithVerdictCache(verdictCache{cache}, fp))
	}
	j, err := graders.NewJudge(spec, judgeCaller{adapter}, card, jopts...)
	if err != nil {
		closeAll()
		return nil, nil, fmt.Errorf("grader %s: %w", name, err)
	}
	return j, closeAll, nil
}

// CardPath is where a grader's card is: card: (relative to the spec), else
// evals/graders/<name>.yaml.
func CardPath(ls *repo.LoadedSpec, spec repo.GraderSpec, evalsDir string) string {
	if spec.Card != "" {
		return filepath.Join(filepath.Dir(ls.Path), spec.Card)
	}
	return repo.Dir(evalsDir).Card(spec.GraderName())
}

// JudgeFingerprint identifies a judge's version (its adapter block and the
// files its command names), like AgentFingerprint for the agent.
func JudgeFingerprint(ls *repo.LoadedSpec, judge repo.Agent) (string, error) {
	cp := *ls
	cp.Spec.Agent = judge
	fp, err := AgentFingerprint(&cp)
	if err != nil {
		return "", fmt.Errorf("judge fingerprint: %w", err)
	}
	return "jdg_" + fp[len("agt_"):], nil
}

// judgeCaller is an adapter seen by the judge: its errors say whether they
// are worth retrying and what kind they are.
type judgeCaller struct{ adapters.Adapter }

func (c judgeCaller) Call(ctx context.Context, req *repo.Request) (repo.Response, error) {
	resp, err := c.Adapter.Call(ctx, req)
	if err != nil {
		var ce *adapters.CallError
		if errors.As(err, &ce) {
			return resp, judgeCallError{ce}
		}
	}
	return resp, err
}

type judgeCallError struct{ *adapters.CallError }

func (e judgeCallError) Transient() bool   { return e.CallError.Transient }
func (e judgeCallError) ErrorKind() string { return e.Kind }
func (e judgeCallError) Unwrap() error     { return e.CallError }

// verdictCache stores judge answers in the agent-call cache's format: one
// cache per judge fingerprint, keyed by prompt hash.
type verdictCache struct{ c *Cache }

const verdictParams = "verdicts"

func (v verdictCache) Get(key string) (repo.Response, bool) {
	resp, _, ok := v.c.Get(key, verdictParams, 0)
	return resp, ok
}

func (v verdictCache) Put(key string, resp *repo.Response) error {
	err := v.c.Put(key, verdictParams, 0, resp, 0)
	if err != nil {
		v.c.disable(err)
	}
	return err
}
