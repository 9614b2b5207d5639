package graders

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/selfevals/selfevals/repo"
)

// judgeFactory builds a stand-in for the LLM judge the runner registers.
func judgeFactory(spec repo.GraderSpec) (Grader, error) {
	if spec.Rubric == "" {
		return nil, errors.New("rubric is required")
	}
	return fixed{name: spec.GraderName(), label: repo.Pass}, nil
}

var factories = map[string]Factory{"llm_judge": judgeFactory}

func names(gs []Grader) []string {
	out := []string{}
	for _, g := range gs {
		out = append(out, g.Name())
	}
	return out
}

func TestRegistryForCase(t *testing.T) {
	specs := []repo.GraderSpec{
		{Type: "deterministic"},
		{Type: "llm_judge", Name: "tone", Rubric: "polite"},
		{Type: "deterministic", Name: "strict", CaseSensitive: true},
	}
	r, err := NewRegistry(specs, factories)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		graders []string
		want    []string
	}{
		{"no list runs all", nil, []string{"deterministic", "tone", "strict"}},
		{"subset in declaration order", []string{"strict", "tone"}, []string{"tone", "strict"}},
		{"one", []string{"deterministic"}, []string{"deterministic"}},
		{"undeclared names are skipped", []string{"tone", "nope"}, []string{"tone"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := names(r.ForCase(&repo.Case{Graders: tt.graders}))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("graders (-want +got):\n%s", diff)
			}
		})
	}
	if diff := cmp.Diff([]string{"deterministic", "tone", "strict"}, r.Names()); diff != "" {
		t.Errorf("Names (-want +got):\n%s", diff)
	}
	if got := r.Graders()[2].(*Deterministic); !got.caseSensitive {
		t.Error("case_sensitive not passed to the grader")
	}
}

func TestRegistryDefault(t *testing.T) {
	r, err := NewRegistry(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"deterministic"}, names(r.Graders())); diff != "" {
		t.Errorf("default graders (-want +got):\n%s", diff)
	}
	if err := r.Validate([]string{"deterministic"}); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestNewRegistryErrors(t *testing.T) {
	tests := []struct {
		name  string
		specs []repo.GraderSpec
		msg   string
		hint  string
		user  bool
	}{
		{
			name:  "unknown type with suggestion",
			specs: []repo.GraderSpec{{Type: "llm_judeg", Rubric: "x"}},
			msg:   `graders[0]: unknown grader type "llm_judeg"`,
			hint:  `did you mean "llm_judge"?`,
			user:  true,
		},
		{
			name:  "unknown type without suggestion",
			specs: []repo.GraderSpec{{Type: "python"}},
			msg:   `graders[0]: unknown grader type "python"`,
			hint:  "one of deterministic, llm_judge",
			user:  true,
		},
		{
			name:  "missing type",
			specs: []repo.GraderSpec{{Name: "x"}},
			msg:   "graders[0]: type is required",
			hint:  "one of deterministic, llm_judge",
			user:  true,
		},
		{
			name:  "duplicate name",
			specs: []repo.GraderSpec{{Type: "deterministic"}, {Type: "deterministic"}},
			msg:   `graders[1]: grader name "deterministic" is declared twice`,
			hint:  "give each grader its own name",
			user:  true,
		},
		{
			name:  "factory error is wrapped",
			specs: []repo.GraderSpec{{Type: "llm_judge", Name: "tone"}},
			msg:   "graders[0] (tone): rubric is required",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewRegistry(tt.specs, factories)
			if err == nil {
				t.Fatal("no error")
			}
			var ue *repo.UserError
			if errors.As(err, &ue) != tt.user {
				t.Fatalf("user error = %v, want %v: %v", !tt.user, tt.user, err)
			}
			if ue != nil {
				if ue.Msg != tt.msg || ue.Hint != tt.hint {
					t.Errorf("got %q / %q, want %q / %q", ue.Msg, ue.Hint, tt.msg, tt.hint)
				}
			} else if err.Error() != tt.msg {
				t.Errorf("got %q, want %q", err, tt.msg)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	specs := []repo.GraderSpec{{Type: "deterministic"}, {Type: "llm_judge", Name: "tone", Rubric: "polite"}}
	r, err := NewRegistry(specs, factories)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		specs []repo.GraderSpec
		names []string
		msg   string
		hint  string
	}{
		{name: "declared", specs: specs, names: []string{"tone", "deterministic"}},
		{name: "empty", specs: specs},
		{
			name:  "typo",
			specs: specs,
			names: []string{"deterministic", "tome"},
			msg:   `grader "tome" is not declared in graders:; declared: deterministic, tone`,
			hint:  `did you mean "tone"?`,
		},
		{
			name:  "far off",
			specs: specs,
			names: []string{"safety_reviewer"},
			msg:   `grader "safety_reviewer" is not declared in graders:; declared: deterministic, tone`,
			hint:  "declare it under graders: in the experiment spec, or remove it from the case",
		},
		{
			name:  "no graders block declares deterministic",
			names: []string{"determinstic"},
			msg:   `grader "determinstic" is not declared in graders:; declared: deterministic`,
			hint:  `did you mean "deterministic"?`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check := func(label string, err error) {
				t.Helper()
				if tt.msg == "" {
					if err != nil {
						t.Errorf("%s: %v", label, err)
					}
					return
				}
				var ue *repo.UserError
				if !errors.As(err, &ue) {
					t.Fatalf("%s: want a user error, got %v", label, err)
				}
				if ue.Msg != tt.msg || ue.Hint != tt.hint {
					t.Errorf("%s: got %q / %q, want %q / %q", label, ue.Msg, ue.Hint, tt.msg, tt.hint)
				}
			}
			check("ValidateCaseGraders", ValidateCaseGraders(tt.specs, tt.names))
			if tt.specs != nil {
				check("Registry.Validate", r.Validate(tt.names))
			}
		})
	}
}

func TestUnused(t *testing.T) {
	r, err := NewRegistry([]repo.GraderSpec{
		{Type: "deterministic"},
		{Type: "llm_judge", Name: "tone", Rubric: "polite"},
		{Type: "llm_judge", Name: "safety", Rubric: "safe"},
	}, factories)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		cases []repo.Case
		want  []string
	}{
		{"no cases", nil, nil},
		{"a case runs everything", []repo.Case{{Graders: []string{"tone"}}, {}}, nil},
		{"subsets leave safety out", []repo.Case{{Graders: []string{"tone"}}, {Graders: []string{"deterministic"}}}, []string{"safety"}},
		{"all named somewhere", []repo.Case{{Graders: []string{"tone", "safety"}}, {Graders: []string{"deterministic"}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, r.Unused(tt.cases)); diff != "" {
				t.Errorf("Unused (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFactoryReplacesBuiltin(t *testing.T) {
	r, err := NewRegistry([]repo.GraderSpec{{Type: "deterministic", Name: "d"}}, map[string]Factory{
		"deterministic": func(spec repo.GraderSpec) (Grader, error) {
			return fixed{name: spec.GraderName() + "!", label: repo.Skipped}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	grades, label, _ := GradeAll(context.Background(), r.ForCase(&repo.Case{}), &repo.Case{}, &repo.Trace{})
	if label != repo.Skipped || !strings.HasSuffix(grades[0].Grader, "!") {
		t.Errorf("factory not used: %+v", grades)
	}
}
