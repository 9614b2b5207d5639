package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/selfevals/selfevals/repo"
)

// step is a workflow's or a composite action's step.
type step struct {
	ID    string            `yaml:"id"`
	Name  string            `yaml:"name"`
	If    string            `yaml:"if"`
	Uses  string            `yaml:"uses"`
	With  map[string]string `yaml:"with"`
	Run   string            `yaml:"run"`
	Shell string            `yaml:"shell"`
	Env   map[string]string `yaml:"env"`
}

type workflow struct {
	On          map[string]any    `yaml:"on"`
	Permissions map[string]string `yaml:"permissions"`
	Concurrency struct {
		Group            string `yaml:"group"`
		CancelInProgress string `yaml:"cancel-in-progress"`
	} `yaml:"concurrency"`
	Jobs map[string]struct {
		Permissions map[string]string `yaml:"permissions"`
		Steps       []step            `yaml:"steps"`
	} `yaml:"jobs"`
}

type compositeAction struct {
	Name   string `yaml:"name"`
	Inputs map[string]struct {
		Description string `yaml:"description"`
		Default     string `yaml:"default"`
	} `yaml:"inputs"`
	Outputs map[string]struct {
		Value string `yaml:"value"`
	} `yaml:"outputs"`
	Runs struct {
		Using string `yaml:"using"`
		Steps []step `yaml:"steps"`
	} `yaml:"runs"`
}

const (
	actionPath = "../../.github/actions/selfevals/action.yml"
	// exampleWorkflows are the workflows shipped for other repositories
	// (.ci/run lints them with actionlint).
	exampleWorkflows = "../../examples/sharding/github-actions/*.yml"
	shardedWorkflow  = "../../examples/sharding/github-actions/evals-sharded.yml"
)

func readYAML(t *testing.T, path string, v any) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return string(raw)
}

// actionlint checks the workflows (.ci/run), and the inputs they pass to
// the local action, but not an action's own steps: this test does. Every
// input the action uses is declared, every run step names its shell and
// takes expressions through env, and the outputs come from steps that
// exist.
func TestCompositeAction(t *testing.T) {
	t.Parallel()
	var action compositeAction
	raw := readYAML(t, actionPath, &action)
	if action.Runs.Using != "composite" || action.Name == "" {
		t.Errorf("runs.using = %q, name = %q", action.Runs.Using, action.Name)
	}
	for _, in := range []string{"version", "dir", "experiments", "base-ref", "fail-on", "cache", "allow-pull-request-target", "setup-go"} {
		if _, ok := action.Inputs[in]; !ok {
			t.Errorf("input %s is missing", in)
		}
	}
	for name, in := range action.Inputs {
		if in.Description == "" {
			t.Errorf("input %s has no description", name)
		}
	}
	for _, m := range regexp.MustCompile(`inputs\.([A-Za-z0-9_-]+)`).FindAllStringSubmatch(raw, -1) {
		if _, ok := action.Inputs[m[1]]; !ok {
			t.Errorf("inputs.%s is used but not declared", m[1])
		}
	}
	ids := map[string]bool{}
	for i, s := range action.Runs.Steps {
		if s.Run != "" && s.Shell != "bash" {
			t.Errorf("step %d runs a script without shell: bash", i)
		}
		if s.Run != "" && strings.Contains(s.Run, "${{") {
			t.Errorf("step %d puts an expression in its script (pass it through env instead): %q", i, s.Run)
		}
		for _, ref := range regexp.MustCompile(`steps\.([A-Za-z0-9_-]+)\.(outputs|outcome)`).FindAllStringSubmatch(s.If+strings.Join(mapValues(s.With), " ")+strings.Join(mapValues(s.Env), " "), -1) {
			if !ids[ref[1]] {
				t.Errorf("step %d (%s) refers to step %s, which does not come before it", i, s.Name, ref[1])
			}
		}
		ids[s.ID] = true
	}
	for name, o := range action.Outputs {
		m := regexp.MustCompile(`steps\.([A-Za-z0-9_-]+)\.outputs`).FindStringSubmatch(o.Value)
		if m == nil || !ids[m[1]] {
			t.Errorf("output %s = %q does not come from a step of the action", name, o.Value)
		}
	}
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// The action is hardened: it refuses pull_request_target unless allowed,
// installs a pinned selfevals (never latest or a branch), restores the Go
// caches and saves the agent-call cache under the evals/ directory the dir
// input names, and only the comment step sees the token.
func TestCompositeActionHardening(t *testing.T) {
	t.Parallel()
	var action compositeAction
	readYAML(t, actionPath, &action)
	if d := action.Inputs["version"].Default; d != "" {
		t.Errorf("version defaults to %q, not the action's own commit", d)
	}
	if d := action.Inputs["allow-pull-request-target"].Default; d != "false" {
		t.Errorf("allow-pull-request-target defaults to %q", d)
	}
	steps := action.Runs.Steps
	first := steps[0]
	if !strings.Contains(first.Run, `"$EVENT" = pull_request_target ] && [ "$ALLOW_TARGET" != true ]`) || !strings.Contains(first.Run, "exit 1") ||
		first.Env["ALLOW_TARGET"] != "${{ inputs.allow-pull-request-target }}" {
		t.Errorf("the first step does not refuse pull_request_target:\n%s", first.Run)
	}
	var install, goCache, restore, save, run, comment *step
	for i := range steps {
		s := &steps[i]
		switch {
		case s.Name == "Install selfevals":
			install = s
		case strings.HasPrefix(s.Uses, "actions/cache@"):
			goCache = s
		case strings.HasPrefix(s.Uses, "actions/cache/restore@"):
			restore = s
		case strings.HasPrefix(s.Uses, "actions/cache/save@"):
			save = s
		case strings.Contains(s.Run, "selfevals run "):
			run = s
		case strings.Contains(s.Run, "selfevals comment --github"):
			comment = s
		}
	}
	if install == nil || goCache == nil || restore == nil || save == nil || run == nil || comment == nil {
		t.Fatalf("steps: install %v, go cache %v, restore %v, save %v, run %v, comment %v", install != nil, goCache != nil, restore != nil, save != nil, run != nil, comment != nil)
	}
	if strings.Contains(install.Run, "@latest") || strings.Contains(install.Run, "@main") || install.Env["GOTOOLCHAIN"] != "auto" {
		t.Errorf("install step:\n%s", install.Run)
	}
	if !strings.Contains(goCache.With["path"], "gomodcache") || !strings.Contains(goCache.With["path"], "gocache") {
		t.Errorf("Go cache paths = %q", goCache.With["path"])
	}
	cacheDir := "${{ inputs.dir }}/" + repo.CacheName
	if restore.With["path"] != cacheDir || save.With["path"] != cacheDir {
		t.Errorf("agent-call cache paths %q, %q; want %q (repo.Dir.Cache under the dir input)", restore.With["path"], save.With["path"], cacheDir)
	}
	if !strings.Contains(restore.With["key"], "agent-cache") || !strings.Contains(save.With["key"], "agent-cache-save") {
		t.Errorf("cache keys: %q, %q", restore.With["key"], save.With["key"])
	}
	if run.Env["SELFEVALS_DIR"] != "${{ inputs.dir }}" {
		t.Errorf("the run step ignores the dir input: %v", run.Env)
	}
	for _, s := range steps {
		for k, v := range s.Env {
			if strings.Contains(v, "github-token") && s.Name != comment.Name {
				t.Errorf("step %q gets the token as %s", s.Name, k)
			}
		}
	}
}

func TestEvalsWorkflow(t *testing.T) {
	t.Parallel()
	var wf workflow
	readYAML(t, "../../.github/workflows/evals.yml", &wf)
	pr, ok := wf.On["pull_request"].(map[string]any)
	if !ok || pr["paths"] == nil {
		t.Errorf("on.pull_request has no paths filter: %v", wf.On)
	}
	if _, ok := wf.On["pull_request_target"]; ok {
		t.Error("the workflow runs on pull_request_target")
	}
	if len(wf.Permissions) != 0 {
		t.Errorf("workflow permissions = %v, want none (each job asks for its own)", wf.Permissions)
	}
	job := wf.Jobs["evals"]
	if len(job.Permissions) != 2 || job.Permissions["contents"] != "read" || job.Permissions["pull-requests"] != "write" {
		t.Errorf("job permissions = %v, want contents: read, pull-requests: write", job.Permissions)
	}
	if !strings.Contains(wf.Concurrency.Group, "github.event.pull_request.number") || wf.Concurrency.CancelInProgress != "true" {
		t.Errorf("concurrency = %+v", wf.Concurrency)
	}
	var checkout, action bool
	for _, s := range job.Steps {
		switch {
		case strings.HasPrefix(s.Uses, "actions/checkout@"):
			checkout = s.With["fetch-depth"] == "0" && s.With["persist-credentials"] == "false"
		case s.Uses == "./.github/actions/selfevals":
			action = s.With["version"] == "local" && s.With["dir"] == "evals" && s.With["fail-on"] == "regression" && s.With["key"] == "evals"
		}
	}
	if !checkout || !action {
		t.Errorf("steps: checkout (full history, no persisted token) %v, the local action %v", checkout, action)
	}
}

func TestCIWorkflow(t *testing.T) {
	t.Parallel()
	var wf workflow
	readYAML(t, "../../.github/workflows/ci.yml", &wf)
	if len(wf.Permissions) != 1 || wf.Permissions["contents"] != "read" {
		t.Errorf("permissions = %v", wf.Permissions)
	}
	for _, s := range wf.Jobs["test"].Steps {
		if strings.HasPrefix(s.Uses, "actions/checkout@") && s.With["persist-credentials"] != "false" {
			t.Error("ci checks out with a persisted token")
		}
	}
}

var (
	usesLine       = regexp.MustCompile(`(?m)^[\s-]*uses:\s*(\S+)(.*)$`)
	pinned         = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(/[A-Za-z0-9_./-]+)?@[0-9a-f]{40}$`)
	versionComment = regexp.MustCompile(`^\s*# v\d+(\.\d+)*\b`)
)

// Every third-party action in the workflows and the composite action is
// pinned to a full commit SHA, with its version in a comment, and one SHA
// has one version everywhere. Tags move; a commit does not.
func TestActionsArePinnedToCommits(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("../../.github/workflows/*.yml")
	examples, _ := filepath.Glob(exampleWorkflows)
	if len(examples) == 0 {
		t.Errorf("no example workflow matches %s", exampleWorkflows)
	}
	files = append(append(files, examples...), actionPath)
	versions := map[string]string{}
	n := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range usesLine.FindAllStringSubmatch(string(raw), -1) {
			ref, comment := m[1], m[2]
			if strings.HasPrefix(ref, "./") || strings.HasPrefix(strings.TrimSpace(m[0]), "#") {
				continue
			}
			n++
			if !pinned.MatchString(ref) {
				t.Errorf("%s: %s is not pinned to a full commit SHA", filepath.Base(f), ref)
				continue
			}
			v := versionComment.FindString(comment)
			if v == "" {
				t.Errorf("%s: %s has no version comment (# v1.2.3)", filepath.Base(f), ref)
			}
			if prev, ok := versions[ref]; ok && prev != v {
				t.Errorf("%s: %s is%s here and%s elsewhere", filepath.Base(f), ref, v, prev)
			}
			versions[ref] = v
		}
	}
	if n < 5 {
		t.Errorf("found only %d uses: lines; the pattern is broken", n)
	}
}

// The pin check itself: a tag, a branch, a short SHA and a SHA without a
// version comment fail it.
func TestPinPattern(t *testing.T) {
	for ref, want := range map[string]bool{
		"actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683":      true,
		"actions/cache/restore@5a3ec84eff668545956fd18022155c47e93e2684": true,
		"actions/checkout@v4":                                             false,
		"selfevals/selfevals/.github/actions/selfevals@main":              false,
		"actions/checkout@11bd719":                                        false,
		"actions/checkout@11BD71901BBE5B1630CEEA73D27597364C9AF683":       false,
		"docker://alpine@sha256:0123456789abcdef0123456789abcdef01234567": false,
	} {
		if got := pinned.MatchString(ref); got != want {
			t.Errorf("%s: pinned = %v", ref, got)
		}
	}
	if versionComment.MatchString(" # pinned") || !versionComment.MatchString(" # v4.2.2") {
		t.Error("version comment pattern")
	}
}

// The README's example workflow is the hardened one: pinned actions, no
// persisted token, a concurrency group per pull request and a paths filter.
func TestReadmeWorkflowExample(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(raw), "\n## Pull requests\n")
	_, rest, _ = strings.Cut(rest, "```yaml\n")
	example, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("no yaml example under ## Pull requests")
	}
	var wf workflow
	if err := yaml.Unmarshal([]byte(example), &wf); err != nil {
		t.Fatalf("the example is not YAML: %v\n%s", err, example)
	}
	if !strings.Contains(wf.Concurrency.Group, "github.event.pull_request.number") {
		t.Errorf("no concurrency group per pull request:\n%s", example)
	}
	if pr, ok := wf.On["pull_request"].(map[string]any); !ok || pr["paths"] == nil {
		t.Errorf("no paths filter:\n%s", example)
	}
	for _, m := range usesLine.FindAllStringSubmatch(example, -1) {
		ref := m[1]
		if strings.HasPrefix(ref, "selfevals/") {
			if strings.HasSuffix(ref, "@main") || strings.HasSuffix(ref, "@latest") {
				t.Errorf("the example uses %s", ref)
			}
			continue
		}
		if !pinned.MatchString(ref) || versionComment.FindString(m[2]) == "" {
			t.Errorf("the example's %s is not pinned with a version comment", ref)
		}
	}
	if !strings.Contains(example, "persist-credentials: false") {
		t.Errorf("the example's checkout keeps its token:\n%s", example)
	}
}

// shardedJob is a job of the sharded example workflow.
type shardedJob struct {
	Needs       string            `yaml:"needs"`
	Permissions map[string]string `yaml:"permissions"`
	Strategy    struct {
		FailFast *bool `yaml:"fail-fast"`
		Matrix   struct {
			Shard []int `yaml:"shard"`
		} `yaml:"matrix"`
	} `yaml:"strategy"`
	Steps []step `yaml:"steps"`
}

// The sharded example: shard jobs for 1..SHARDS that check out without a
// persisted token, run their shard and upload its run directory; a merge
// job that downloads every shard's artifact, merges, diffs against the
// merge base and comments as the composite action does. Each job asks for
// no more than it needs, and only the comment step sees the token.
func TestShardedWorkflowExample(t *testing.T) {
	t.Parallel()
	var wf struct {
		On          map[string]any    `yaml:"on"`
		Permissions map[string]string `yaml:"permissions"`
		Concurrency struct {
			Group            string `yaml:"group"`
			CancelInProgress string `yaml:"cancel-in-progress"`
		} `yaml:"concurrency"`
		Env  map[string]string     `yaml:"env"`
		Jobs map[string]shardedJob `yaml:"jobs"`
	}
	readYAML(t, shardedWorkflow, &wf)
	if pr, ok := wf.On["pull_request"].(map[string]any); !ok || pr["paths"] == nil || len(wf.On) != 1 {
		t.Errorf("on = %v, want pull_request with a paths filter only", wf.On)
	}
	if len(wf.Permissions) != 0 || !strings.Contains(wf.Concurrency.Group, "github.event.pull_request.number") || wf.Concurrency.CancelInProgress != "true" {
		t.Errorf("permissions %v, concurrency %+v", wf.Permissions, wf.Concurrency)
	}
	install, shard, merge := wf.Jobs["install"], wf.Jobs["shard"], wf.Jobs["merge"]
	if len(install.Permissions) != 0 || len(shard.Permissions) != 1 || shard.Permissions["contents"] != "read" ||
		len(merge.Permissions) != 2 || merge.Permissions["contents"] != "read" || merge.Permissions["pull-requests"] != "write" {
		t.Errorf("permissions: install %v, shard %v, merge %v", install.Permissions, shard.Permissions, merge.Permissions)
	}
	if shard.Needs != "install" || merge.Needs != "shard" {
		t.Errorf("needs: shard %q, merge %q", shard.Needs, merge.Needs)
	}

	n, err := strconv.Atoi(wf.Env["SHARDS"])
	if err != nil || n < 2 || n > repo.MaxShards {
		t.Fatalf("env.SHARDS = %q", wf.Env["SHARDS"])
	}
	if got, want := shard.Strategy.Matrix.Shard, shardRange(n); !slices.Equal(got, want) {
		t.Errorf("matrix.shard = %v, want %v: every shard of 1..SHARDS, or merge finds one missing", got, want)
	}
	if shard.Strategy.FailFast == nil || *shard.Strategy.FailFast {
		t.Error("a failed shard cancels the others: rerunning it then reruns them all")
	}

	run := findStep(t, "runs the shard (run \"$SPEC\" --shard \"$SHARD/$SHARDS\")", shard.Steps, func(s step) bool { return strings.Contains(s.Run, " run \"$SPEC\" --shard \"$SHARD/$SHARDS\"") })
	if run.Env["SHARD"] != "${{ matrix.shard }}" {
		t.Errorf("the shard step's SHARD = %q", run.Env["SHARD"])
	}
	upload := findStep(t, "uploads the shard", shard.Steps, func(s step) bool { return strings.HasPrefix(s.Uses, "actions/upload-artifact@") })
	prefix, ok := strings.CutSuffix(upload.With["name"], "${{ matrix.shard }}")
	if !ok || upload.With["path"] != "evals/runs/" || upload.With["if-no-files-found"] != "error" || upload.With["overwrite"] != "true" {
		t.Errorf("the shard's artifact: %v", upload.With)
	}

	download := findStep(t, "downloads the shards by pattern", merge.Steps, func(s step) bool { return s.With["pattern"] != "" })
	if download.With["pattern"] != prefix+"*" {
		t.Errorf("merge downloads %q, the shards upload %s<i>", download.With["pattern"], prefix)
	}
	mergeStep := findStep(t, "merges", merge.Steps, func(s step) bool { return strings.Contains(s.Run, " merge ") })
	if !strings.Contains(mergeStep.Run, `merge "$RUNNER_TEMP/shards"`) || download.With["path"] != "${{ runner.temp }}/shards" {
		t.Errorf("merge does not read the downloaded shards (%s):\n%s", download.With["path"], mergeStep.Run)
	}
	diff := findStep(t, "diffs", merge.Steps, func(s step) bool { return strings.Contains(s.Run, "selfevals diff") })
	if !strings.Contains(diff.Run, `diff "origin/$BASE..." --fail-on regression`) || diff.Env["BASE"] != "${{ github.base_ref }}" {
		t.Errorf("the diff step:\n%s", diff.Run)
	}
	findStep(t, "comments", merge.Steps, func(s step) bool { return strings.Contains(s.Run, "selfevals comment --github --body-file") })

	for name, job := range wf.Jobs {
		for _, s := range job.Steps {
			if strings.HasPrefix(s.Uses, "actions/checkout@") && s.With["persist-credentials"] != "false" {
				t.Errorf("%s: the checkout keeps its token in .git/config", name)
			}
			if strings.HasPrefix(s.Uses, "actions/checkout@") && name == "merge" && s.With["fetch-depth"] != "0" {
				t.Error("merge: a shallow checkout has no merge base to diff against")
			}
			if strings.Contains(s.Run, "${{") {
				t.Errorf("%s: step %q puts an expression in its script (pass it through env instead)", name, s.Name)
			}
			for k, v := range s.Env {
				if strings.Contains(v, "github.token") && !strings.Contains(s.Run, "selfevals comment") {
					t.Errorf("%s: step %q gets the token as %s", name, s.Name, k)
				}
			}
		}
	}
}

func shardRange(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

// findStep is the first step that matches; none fails the test.
func findStep(t *testing.T, what string, steps []step, match func(step) bool) step {
	t.Helper()
	for _, s := range steps {
		if match(s) {
			return s
		}
	}
	t.Fatalf("no step %s", what)
	return step{}
}
