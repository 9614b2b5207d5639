package repo

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"

	"github.com/selfevals/selfevals/internal/lazy"
	"gopkg.in/yaml.v3"
)

// Taxonomy is evals/taxonomy.yaml: the failure modes traces are classified
// into.
type Taxonomy struct {
	Modes []FailureMode `yaml:"modes"`
}

// FailureMode is one mode of failure. Its ID is slug-based (fm_<slug>) so
// it survives edits of its title and definition.
type FailureMode struct {
	Slug       string           `yaml:"slug"`
	Title      string           `yaml:"title"`
	Definition string           `yaml:"definition"`
	Status     string           `yaml:"status,omitempty"`
	Parent     string           `yaml:"parent,omitempty"`
	Examples   []ModeExample    `yaml:"examples,omitempty"`
	ProposedBy string           `yaml:"proposed_by,omitempty"`
	MergedInto string           `yaml:"merged_into,omitempty"`
	History    []ModeHistory    `yaml:"history,omitempty"`
	FirstSeen  *FirstSeenRecord `yaml:"first_seen,omitempty"`
}

// ID is the mode's stable ID.
func (m FailureMode) ID() string { return "fm_" + m.Slug }

// ModeExample is a trace that shows the mode.
type ModeExample struct {
	TraceID string `yaml:"trace_id"`
	Quote   string `yaml:"quote,omitempty"`
	Note    string `yaml:"note,omitempty"`
}

// ModeHistory records a lifecycle change (promote, retire, merge, edit).
type ModeHistory struct {
	Action string `yaml:"action"`
	At     string `yaml:"at,omitempty"`
	By     string `yaml:"by,omitempty"`
	Detail string `yaml:"detail,omitempty"`
}

// FirstSeenRecord says where a mode was first seen.
type FirstSeenRecord struct {
	Experiment string `yaml:"experiment,omitempty"`
	Run        string `yaml:"run,omitempty"`
	Iteration  *int   `yaml:"iteration,omitempty"`
}

var modeSlug = lazy.Regexp(`^[a-z0-9][a-z0-9_]{0,62}$`)

// LoadTaxonomy reads and validates a taxonomy file.
func LoadTaxonomy(path string) (*Taxonomy, error) {
	t, _, _, err := readTaxonomy(path)
	return t, err
}

// LoadTaxonomyFS is LoadTaxonomy for the file at name in fsys.
func LoadTaxonomyFS(fsys fs.FS, name string) (*Taxonomy, error) {
	t, _, _, err := readTaxonomyFile(fsFile(fsys, name))
	return t, err
}

// readTaxonomy reads, parses and validates a taxonomy file and returns the
// decoded taxonomy with its node tree and bytes (for edits that keep
// comments).
func readTaxonomy(path string) (*Taxonomy, *yaml.Node, []byte, error) {
	return readTaxonomyFile(osFile(path))
}

func readTaxonomyFile(f file) (*Taxonomy, *yaml.Node, []byte, error) {
	data, err := f.read()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, nil, &UserError{Msg: fmt.Sprintf("taxonomy not found: %s", f.name), Hint: "run selfevals init to create it"}
		}
		return nil, nil, nil, err
	}
	node, err := parseYAML(f.name, data)
	if err != nil {
		return nil, nil, nil, err
	}
	t, probs := validateTaxonomy(f.name, node)
	if len(probs) > 0 {
		return nil, nil, nil, probs
	}
	return t, node, data, nil
}

func validateTaxonomy(path string, node *yaml.Node) (*Taxonomy, Problems) {
	// Shape and value problems come in one report: a value the strict
	// decode reported is left out, and no check repeats it.
	var t Taxonomy
	probs, broken := decodeLenient(path, node, &t, "")
	slugs := map[string]int{}
	for i, m := range t.Modes {
		f := fmt.Sprintf("modes[%d]", i)
		add := func(sub, msg, hint string) {
			if !broken.at(joinPath(f, sub)) {
				probs = append(probs, at(path, node, joinPath(f, sub), msg, hint))
			}
		}
		if !modeSlug().MatchString(m.Slug) {
			add("slug", fmt.Sprintf("%q is not a valid slug", m.Slug), "lower-case letters, digits and _ (no hyphens), at most 63 characters")
		}
		if _, dup := slugs[m.Slug]; dup {
			add("slug", fmt.Sprintf("slug %q is used twice", m.Slug), "")
		}
		slugs[m.Slug] = i
		if m.Title == "" {
			add("title", "required", "")
		}
		if m.Definition == "" {
			add("definition", "required", "")
		}
		if m.Status != "" && !oneOf(m.Status, "candidate", "official", "retired") {
			add("status", fmt.Sprintf("unknown status %q", m.Status), "candidate, official or retired")
		}
	}
	// A slug left out may be the one a reference names.
	slugsKnown := !slices.ContainsFunc(t.Modes, func(m FailureMode) bool { return m.Slug == "" })
	for i, m := range t.Modes {
		for _, ref := range []struct{ field, slug string }{{"parent", m.Parent}, {"merged_into", m.MergedInto}} {
			if ref.slug == "" || !slugsKnown || broken.at(fmt.Sprintf("modes[%d].%s", i, ref.field)) {
				continue
			}
			if _, ok := slugs[ref.slug]; !ok {
				probs = append(probs, at(path, node, fmt.Sprintf("modes[%d].%s", i, ref.field), fmt.Sprintf("unknown mode %q", ref.slug), ""))
			}
		}
	}
	for i, m := range t.Modes {
		if m.MergedInto != "" && slugsKnown && resolveChain(&t, m.Slug) == nil {
			probs = append(probs, at(path, node, fmt.Sprintf("modes[%d].merged_into", i), "merged_into forms a cycle", "a merged mode must lead to a mode that is not merged"))
		}
	}
	if len(probs) > 0 {
		probs.SortByLine()
		return nil, probs
	}
	return &t, nil
}
