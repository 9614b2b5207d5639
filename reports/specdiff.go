package reports

import (
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/goccy/go-json"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/selfevals/selfevals/repo"
)

// specChanges is the structured diff of two specs, field by field with the
// YAML names people write (experiment.parameters.model_params.temperature).
// Inline cases are left to the dataset diff, which compares them by content
// hash.
func specChanges(a, b *repo.Spec) []FieldChange {
	return structChanges(a, b, cmpopts.IgnoreFields(repo.DatasetRef{}, "CasesInline"))
}

// structChanges compares two values of the same type with go-cmp and
// reports every differing leaf.
func structChanges(a, b any, opts ...cmp.Option) []FieldChange {
	r := &fieldReporter{}
	opts = append(opts, cmpopts.EquateEmpty(), cmp.Reporter(r))
	cmp.Equal(a, b, opts...)
	return r.changes
}

// fieldReporter collects go-cmp's unequal leaves as FieldChanges.
type fieldReporter struct {
	path    cmp.Path
	changes []FieldChange
}

func (r *fieldReporter) PushStep(ps cmp.PathStep) { r.path = append(r.path, ps) }

func (r *fieldReporter) PopStep() { r.path = r.path[:len(r.path)-1] }

func (r *fieldReporter) Report(rs cmp.Result) {
	if rs.Equal() {
		return
	}
	vx, vy := r.path.Last().Values()
	fc := FieldChange{Path: yamlPath(r.path), Kind: "changed", A: render(vx), B: render(vy)}
	switch {
	case !present(vx):
		fc.Kind, fc.A = "added", ""
	case !present(vy):
		fc.Kind, fc.B = "removed", ""
	}
	r.changes = append(r.changes, fc)
}

// present is false for a missing map entry or slice element, a nil
// pointer, and a nil interface.
func present(v reflect.Value) bool {
	if !v.IsValid() {
		return false
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice:
		return !v.IsNil()
	}
	return true
}

// yamlPath renders a go-cmp path with the YAML names of struct fields.
func yamlPath(p cmp.Path) string {
	var parts []string
	for i, step := range p {
		switch s := step.(type) {
		case cmp.StructField:
			parent := p[i-1].Type()
			for parent.Kind() == reflect.Pointer {
				parent = parent.Elem()
			}
			name := strings.ToLower(s.Name())
			if f, ok := parent.FieldByName(s.Name()); ok {
				tag := strings.Split(f.Tag.Get("yaml"), ",")
				if tag[0] != "" && tag[0] != "-" {
					name = tag[0]
				}
				if len(tag) > 1 && tag[1] == "inline" {
					continue
				}
			}
			parts = append(parts, "."+name)
		case cmp.MapIndex:
			parts = append(parts, "."+fmt.Sprint(s.Key().Interface()))
		case cmp.SliceIndex:
			ix, iy := s.SplitKeys()
			k := iy
			if k < 0 {
				k = ix
			}
			parts = append(parts, "["+strconv.Itoa(k)+"]")
		}
	}
	return strings.TrimPrefix(strings.Join(parts, ""), ".")
}

// render shows a value compactly: scalars as written, the rest as JSON.
func render(v reflect.Value) string {
	if !present(v) {
		return ""
	}
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		v = v.Elem()
	}
	var s string
	switch v.Kind() {
	case reflect.String:
		s = strconv.Quote(v.String())
	case reflect.Bool:
		s = strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if v.Type() == reflect.TypeOf(repo.Duration(0)) {
			s = repo.Duration(v.Int()).D().String()
		} else {
			s = strconv.FormatInt(v.Int(), 10)
		}
	case reflect.Float32, reflect.Float64:
		s = repo.FormatNumber(v.Float())
	default:
		if !v.CanInterface() {
			return v.String()
		}
		b, err := json.MarshalWithOption(v.Interface(), json.DisableHTMLEscape())
		if err != nil {
			s = fmt.Sprint(v.Interface())
		} else {
			s = string(b)
		}
	}
	return clip(s, 200)
}

// diffTaxonomy compares evals/taxonomy.yaml at both revisions. A side the
// loader refuses is a warning, and there is no comparison.
func (d *DiffReport) diffTaxonomy(evals repo.Dir, a, b Revision) (*TaxonomyDiff, error) {
	// load returns the modes by slug (none for a missing taxonomy), and
	// whether there are modes to compare.
	load := func(r Revision) (map[string]repo.FailureMode, bool, error) {
		if ok, err := exists(r.Tree, evals.Taxonomy()); err != nil || !ok {
			return nil, err == nil, err
		}
		t, err := repo.LoadTaxonomyFS(r.Tree, evals.Taxonomy())
		if err != nil {
			if !repo.IsUserError(err) {
				return nil, false, err
			}
			d.Warnings = append(d.Warnings, warnings(r, err)...)
			return nil, false, nil
		}
		m := make(map[string]repo.FailureMode, len(t.Modes))
		for _, mode := range t.Modes {
			m[mode.Slug] = mode
		}
		return m, true, nil
	}
	ma, okA, err := load(a)
	if err != nil {
		return nil, err
	}
	mb, okB, err := load(b)
	if err != nil || !okA || !okB {
		return nil, err
	}
	status := func(m repo.FailureMode) string {
		if m.Status == "" {
			return "candidate"
		}
		return m.Status
	}
	td := &TaxonomyDiff{Added: []ModeRef{}, Removed: []ModeRef{}, StatusChanged: []ModeStatus{}, Edited: []string{}}
	for _, slug := range unionKeys(ma, mb) {
		x, okA := ma[slug]
		y, okB := mb[slug]
		switch {
		case !okA:
			td.Added = append(td.Added, ModeRef{Slug: slug, Title: y.Title, Status: status(y)})
		case !okB:
			td.Removed = append(td.Removed, ModeRef{Slug: slug, Title: x.Title, Status: status(x)})
		default:
			if status(x) != status(y) {
				td.StatusChanged = append(td.StatusChanged, ModeStatus{Slug: slug, From: status(x), To: status(y)})
			}
			if x.Title != y.Title || x.Definition != y.Definition || x.Parent != y.Parent || x.MergedInto != y.MergedInto {
				td.Edited = append(td.Edited, slug)
			}
		}
	}
	if td.Empty() {
		return nil, nil
	}
	return td, nil
}

// diffCards compares the grader cards (evals/graders/*.yaml) field by
// field. A card the loader refuses is a warning, and only changed.
func (d *DiffReport) diffCards(evals repo.Dir, a, b Revision) ([]CardDiff, error) {
	dir := evals.Graders()
	list := func(r Revision) (map[string]bool, error) {
		entries, err := readDir(r.Tree, dir)
		m := map[string]bool{}
		for _, e := range entries {
			if !e.IsDir() && slices.ContainsFunc(repo.SpecExts, func(ext string) bool { return strings.HasSuffix(e.Name(), ext) }) {
				m[e.Name()] = true
			}
		}
		return m, err
	}
	la, err := list(a)
	if err != nil {
		return nil, err
	}
	lb, err := list(b)
	if err != nil {
		return nil, err
	}
	// load reads a card at r; nil when the loader refuses it.
	load := func(r Revision, p string) (*repo.GraderCard, error) {
		c, err := repo.LoadGraderCardFS(r.Tree, p)
		if err != nil && repo.IsUserError(err) {
			d.Warnings = append(d.Warnings, warnings(r, err)...)
			return nil, nil
		}
		return c, err
	}
	var out []CardDiff
	for _, name := range unionKeys(la, lb) {
		p := path.Join(dir, name)
		switch {
		case !la[name]:
			out = append(out, CardDiff{Path: p, Status: StatusAdded})
		case !lb[name]:
			out = append(out, CardDiff{Path: p, Status: StatusRemoved})
		default:
			ra, err := fs.ReadFile(a.Tree, p)
			if err != nil {
				return nil, err
			}
			rb, err := fs.ReadFile(b.Tree, p)
			if err != nil {
				return nil, err
			}
			if bytes.Equal(ra, rb) {
				continue
			}
			ca, err := load(a, p)
			if err != nil {
				return nil, err
			}
			cb, err := load(b, p)
			if err != nil {
				return nil, err
			}
			if ca == nil || cb == nil {
				out = append(out, CardDiff{Path: p, Status: StatusChanged})
				continue
			}
			if ch := structChanges(*ca, *cb); len(ch) > 0 {
				out = append(out, CardDiff{Path: p, Status: StatusChanged, Changes: ch})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}
