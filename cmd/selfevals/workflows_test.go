package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// actionlint checks the workflows (.ci/run) but not an action's own
// metadata: this test does. Every input the action uses is declared, every
// run step names its shell, and the outputs come from steps that exist.
func TestCompositeAction(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../.github/actions/selfevals/action.yml")
	if err != nil {
		t.Fatal(err)
	}
	var action struct {
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
			Steps []struct {
				ID    string            `yaml:"id"`
				Uses  string            `yaml:"uses"`
				Run   string            `yaml:"run"`
				Shell string            `yaml:"shell"`
				Env   map[string]string `yaml:"env"`
			} `yaml:"steps"`
		} `yaml:"runs"`
	}
	if err := yaml.Unmarshal(raw, &action); err != nil {
		t.Fatal(err)
	}
	if action.Runs.Using != "composite" || action.Name == "" {
		t.Errorf("runs.using = %q, name = %q", action.Runs.Using, action.Name)
	}
	for _, in := range []string{"version", "experiments", "base-ref", "fail-on"} {
		if _, ok := action.Inputs[in]; !ok {
			t.Errorf("input %s is missing", in)
		}
	}
	for name, in := range action.Inputs {
		if in.Description == "" {
			t.Errorf("input %s has no description", name)
		}
	}
	for _, m := range regexp.MustCompile(`inputs\.([A-Za-z0-9_-]+)`).FindAllStringSubmatch(string(raw), -1) {
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
		ids[s.ID] = true
	}
	for name, o := range action.Outputs {
		m := regexp.MustCompile(`steps\.([A-Za-z0-9_-]+)\.outputs`).FindStringSubmatch(o.Value)
		if m == nil || !ids[m[1]] {
			t.Errorf("output %s = %q does not come from a step of the action", name, o.Value)
		}
	}
}

func TestEvalsWorkflow(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../.github/workflows/evals.yml")
	if err != nil {
		t.Fatal(err)
	}
	var wf struct {
		On          map[string]any    `yaml:"on"`
		Permissions map[string]string `yaml:"permissions"`
		Jobs        map[string]struct {
			Steps []struct {
				Uses string            `yaml:"uses"`
				With map[string]string `yaml:"with"`
				Run  string            `yaml:"run"`
				Env  map[string]string `yaml:"env"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(raw, &wf); err != nil {
		t.Fatal(err)
	}
	if _, ok := wf.On["pull_request"]; !ok || wf.Permissions["pull-requests"] != "write" {
		t.Errorf("on = %v, permissions = %v", wf.On, wf.Permissions)
	}
	var checkout, setupGo, build, run, diff, comment bool
	for _, s := range wf.Jobs["evals"].Steps {
		switch {
		case strings.HasPrefix(s.Uses, "actions/checkout@"):
			checkout = s.With["fetch-depth"] == "0"
		case strings.HasPrefix(s.Uses, "actions/setup-go@"):
			setupGo = s.With["go-version-file"] == "go.mod"
		case strings.Contains(s.Run, "go build") && strings.Contains(s.Run, "./cmd/selfevals"):
			build = true
		case strings.Contains(s.Run, " run evals/experiments/*.yaml --max-iterations 1 --no-commit"):
			run = true
		case strings.Contains(s.Run, ` diff "origin/$BASE_REF"`):
			diff = s.Env["BASE_REF"] == "${{ github.base_ref }}"
		case strings.Contains(s.Run, " comment --github --body-file ") && strings.Contains(s.Run, "--key evals"):
			comment = s.Env["GITHUB_TOKEN"] != ""
		}
	}
	if !checkout || !setupGo || !build || !run || !diff || !comment {
		t.Errorf("steps: checkout %v, setup-go %v, build %v, run %v, diff %v, comment %v", checkout, setupGo, build, run, diff, comment)
	}
}
