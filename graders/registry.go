package graders

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/selfevals/selfevals/repo"
)

// Factory builds a grader from its graders: entry. Packages above this one
// register the kinds they own (the runner registers llm_judge, which needs
// an adapter to call the judge).
type Factory func(spec repo.GraderSpec) (Grader, error)

// builtin are the grader types this package builds itself.
var builtin = map[string]Factory{
	"deterministic": func(spec repo.GraderSpec) (Grader, error) { return NewDeterministic(spec), nil },
}

// Registry holds the graders an experiment declares and picks the ones
// each case runs.
type Registry struct {
	graders []Grader
	names   []string
}

// NewRegistry builds every grader of the graders: block, in order. factories
// add grader types (or replace a built-in one) by type name. With no
// graders: block a single Deterministic grader runs, as in the reference.
func NewRegistry(specs []repo.GraderSpec, factories map[string]Factory) (*Registry, error) {
	kinds := maps.Clone(builtin)
	maps.Copy(kinds, factories)
	if len(specs) == 0 {
		specs = []repo.GraderSpec{{Type: "deterministic"}}
	}
	r := &Registry{}
	for i, spec := range specs {
		field := fmt.Sprintf("graders[%d]", i)
		build, ok := kinds[spec.Type]
		if !ok {
			return nil, unknownType(field, spec.Type, slices.Sorted(maps.Keys(kinds)))
		}
		name := spec.GraderName()
		if slices.Contains(r.names, name) {
			return nil, &repo.UserError{
				Msg:  fmt.Sprintf("%s: grader name %q is declared twice", field, name),
				Hint: "give each grader its own name",
			}
		}
		g, err := build(spec)
		if err != nil {
			return nil, fmt.Errorf("%s (%s): %w", field, name, err)
		}
		r.graders = append(r.graders, g)
		r.names = append(r.names, name)
	}
	return r, nil
}

func unknownType(field, typ string, known []string) error {
	if typ == "" {
		return &repo.UserError{Msg: field + ": type is required", Hint: "one of " + strings.Join(known, ", ")}
	}
	hint := "one of " + strings.Join(known, ", ")
	if s := repo.Suggest(typ, known); s != "" {
		hint = fmt.Sprintf("did you mean %q?", s)
	}
	return &repo.UserError{Msg: fmt.Sprintf("%s: unknown grader type %q", field, typ), Hint: hint}
}

// Graders is every declared grader, in declaration order. The slice is
// shared: do not modify it.
func (r *Registry) Graders() []Grader { return r.graders }

// Names is the declared grader names, in declaration order.
func (r *Registry) Names() []string { return slices.Clone(r.names) }

// ForCase is the graders that run on a case: all of them, unless the case
// lists a subset in its graders field, then those (in declaration order).
// Names that are not declared are skipped here; Validate reports them when
// the dataset loads. The returned slice must not be modified.
func (r *Registry) ForCase(c *repo.Case) []Grader {
	if len(c.Graders) == 0 {
		return r.graders
	}
	out := make([]Grader, 0, len(c.Graders))
	for i, g := range r.graders {
		if slices.Contains(c.Graders, r.names[i]) {
			out = append(out, g)
		}
	}
	return out
}

// Validate checks the grader names a case lists against the declared ones.
func (r *Registry) Validate(names []string) error {
	return checkNames(r.names, names)
}

// ValidateCaseGraders is Validate before any grader is built, from the
// graders: block alone, for the loader to run alongside its other checks.
func ValidateCaseGraders(specs []repo.GraderSpec, names []string) error {
	declared := []string{"deterministic"}
	if len(specs) > 0 {
		declared = make([]string, len(specs))
		for i, s := range specs {
			declared[i] = s.GraderName()
		}
	}
	return checkNames(declared, names)
}

func checkNames(declared, names []string) error {
	for _, n := range names {
		if slices.Contains(declared, n) {
			continue
		}
		e := &repo.UserError{Msg: fmt.Sprintf("grader %q is not declared in graders:; declared: %s", n, strings.Join(declared, ", "))}
		if s := repo.Suggest(n, declared); s != "" {
			e.Hint = fmt.Sprintf("did you mean %q?", s)
		} else {
			e.Hint = "declare it under graders: in the experiment spec, or remove it from the case"
		}
		return e
	}
	return nil
}

// Unused lists declared graders that no case runs: every case names a
// subset that leaves them out. Such a grader is almost always a typo or a
// forgotten edit, and a report would otherwise be silent about it.
func (r *Registry) Unused(cases []repo.Case) []string {
	if len(cases) == 0 {
		return nil
	}
	used := make([]bool, len(r.names))
	for i := range cases {
		if len(cases[i].Graders) == 0 {
			return nil // this case runs every grader
		}
		for j, n := range r.names {
			used[j] = used[j] || slices.Contains(cases[i].Graders, n)
		}
	}
	var out []string
	for j, n := range r.names {
		if !used[j] {
			out = append(out, n)
		}
	}
	return out
}

// Grade runs the graders that apply to case c on trace t and combines their
// verdicts worst-of.
func (r *Registry) Grade(ctx context.Context, c *repo.Case, t *repo.Trace) ([]repo.Grade, repo.Label, float64) {
	return GradeAll(ctx, r.ForCase(c), c, t)
}
