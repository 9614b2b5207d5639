package repo

import (
	"bytes"
	"fmt"
	"os"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// TaxonomyFile is evals/taxonomy.yaml opened for editing. Edits change the
// decoded Taxonomy; Save carries them into the file's YAML node tree, so
// comments, key order, flow style and blank lines people wrote survive.
type TaxonomyFile struct {
	Path string
	Taxonomy
	node *yaml.Node
	raw  []byte
	// examples indexes each mode's example trace IDs, built as AddExample
	// needs them, so a push of n assignments is not n scans of a list
	// that grows with each.
	examples map[string]map[string]bool
}

// Change says who changed the taxonomy and when (a history entry's by/at).
type Change struct {
	By string
	At string
}

// OpenTaxonomy reads and validates a taxonomy file for editing.
func OpenTaxonomy(path string) (*TaxonomyFile, error) {
	t, node, raw, err := readTaxonomy(path)
	if err != nil {
		return nil, err
	}
	return &TaxonomyFile{Path: path, Taxonomy: *t, node: node, raw: raw}, nil
}

// ModeSlug is the slug a mode reference names: references are the ID
// (fm_<slug>) or the bare slug.
func ModeSlug(ref string) string { return strings.TrimPrefix(ref, "fm_") }

// ModeStatus is a mode's status with the default applied (candidate).
func ModeStatus(m FailureMode) string {
	if m.Status == "" {
		return "candidate"
	}
	return m.Status
}

// ValidModeSlug reports whether s can be a mode's slug.
func ValidModeSlug(s string) bool { return modeSlug().MatchString(s) }

// Lookup finds a mode by ID or slug, without following merges.
func (t *Taxonomy) Lookup(ref string) (*FailureMode, bool) {
	slug := ModeSlug(ref)
	for i := range t.Modes {
		if t.Modes[i].Slug == slug {
			return &t.Modes[i], true
		}
	}
	return nil, false
}

// Resolve finds a mode by ID or slug and follows merged_into to the mode
// it was folded into, so assignments made before a merge still name a
// live mode. ok is false when ref names no mode.
func (t *Taxonomy) Resolve(ref string) (FailureMode, bool) {
	m := resolveChain(t, ModeSlug(ref))
	if m == nil {
		return FailureMode{}, false
	}
	return *m, true
}

// resolveChain follows merged_into from slug; nil when slug is unknown or
// the chain loops.
func resolveChain(t *Taxonomy, slug string) *FailureMode {
	seen := map[string]bool{}
	for {
		m, ok := t.Lookup(slug)
		if !ok || seen[slug] {
			return nil
		}
		if m.MergedInto == "" {
			return m
		}
		seen[slug] = true
		slug = m.MergedInto
	}
}

// Find is Lookup for commands: an unknown reference is a user error that
// suggests the nearest mode.
func (t *Taxonomy) Find(ref string) (*FailureMode, error) {
	if m, ok := t.Lookup(ref); ok {
		return m, nil
	}
	var ids []string
	for _, m := range t.Modes {
		ids = append(ids, m.ID())
	}
	ue := &UserError{Msg: fmt.Sprintf("no failure mode %s in the taxonomy", ref)}
	if s := Suggest("fm_"+ModeSlug(ref), ids); s != "" {
		ue.Hint = fmt.Sprintf("did you mean %s?", s)
	} else {
		ue.Hint = "selfevals failuremode list shows them"
	}
	return nil, ue
}

// AddCandidate appends m as a candidate mode unless its slug exists; it
// reports whether it was added.
func (f *TaxonomyFile) AddCandidate(m FailureMode) bool {
	if _, ok := f.Lookup(m.Slug); ok {
		return false
	}
	m.Status = "candidate"
	f.Modes = append(f.Modes, m)
	return true
}

// AddExample adds ex to the mode ref resolves to, unless that mode already
// has an example of the same trace; it reports whether it was added.
func (f *TaxonomyFile) AddExample(ref string, ex ModeExample) (bool, error) {
	r, ok := f.Resolve(ref)
	if !ok {
		return false, Userf("no failure mode %s in the taxonomy", ref)
	}
	m, _ := f.Lookup(r.Slug)
	have := f.exampleIndex(m)
	if have[ex.TraceID] {
		return false, nil
	}
	have[ex.TraceID] = true
	m.Examples = append(m.Examples, ex)
	return true, nil
}

// exampleIndex is the set of m's example trace IDs.
func (f *TaxonomyFile) exampleIndex(m *FailureMode) map[string]bool {
	if f.examples == nil {
		f.examples = map[string]map[string]bool{}
	}
	have, ok := f.examples[m.Slug]
	if !ok {
		have = make(map[string]bool, len(m.Examples))
		for _, e := range m.Examples {
			have[e.TraceID] = true
		}
		f.examples[m.Slug] = have
	}
	return have
}

// Promote makes a mode official. It reports false (and changes nothing)
// when the mode is already official.
func (f *TaxonomyFile) Promote(ref string, c Change) (bool, error) {
	m, err := f.Find(ref)
	if err != nil {
		return false, err
	}
	if m.MergedInto != "" {
		return false, &UserError{Msg: fmt.Sprintf("%s was merged into fm_%s", m.ID(), m.MergedInto), Hint: "promote fm_" + m.MergedInto + " instead"}
	}
	if ModeStatus(*m) == "official" {
		return false, nil
	}
	m.History = append(m.History, ModeHistory{Action: "promoted", At: c.At, By: c.By, Detail: ModeStatus(*m) + " → official"})
	m.Status = "official"
	return true, nil
}

// Retire retires a mode. It reports false when it is already retired.
func (f *TaxonomyFile) Retire(ref string, c Change) (bool, error) {
	m, err := f.Find(ref)
	if err != nil {
		return false, err
	}
	if ModeStatus(*m) == "retired" {
		return false, nil
	}
	m.History = append(m.History, ModeHistory{Action: "retired", At: c.At, By: c.By, Detail: ModeStatus(*m) + " → retired"})
	m.Status = "retired"
	return true, nil
}

// Merge folds src into dst: src is retired with merged_into dst (so its
// old assignments resolve to dst) and dst gains src's examples. Both get a
// history entry.
func (f *TaxonomyFile) Merge(srcRef, dstRef string, c Change) error {
	src, err := f.Find(srcRef)
	if err != nil {
		return err
	}
	dst, err := f.Find(dstRef)
	if err != nil {
		return err
	}
	if src.Slug == dst.Slug {
		return Userf("cannot merge a mode into itself")
	}
	if src.MergedInto != "" {
		return Userf("%s is already merged into fm_%s", src.ID(), src.MergedInto)
	}
	if dst.MergedInto != "" {
		return &UserError{Msg: fmt.Sprintf("%s was itself merged into fm_%s", dst.ID(), dst.MergedInto), Hint: fmt.Sprintf("merge into fm_%s", dst.MergedInto)}
	}
	if ModeStatus(*dst) == "retired" {
		return &UserError{Msg: fmt.Sprintf("%s is retired", dst.ID()), Hint: "merge into an active mode, or promote it first"}
	}
	moved := 0
	have := f.exampleIndex(dst)
	for _, ex := range src.Examples {
		if !have[ex.TraceID] {
			have[ex.TraceID] = true
			dst.Examples = append(dst.Examples, ex)
			moved++
		}
	}
	src.History = append(src.History, ModeHistory{Action: "merged", At: c.At, By: c.By, Detail: fmt.Sprintf("into fm_%s (was %s)", dst.Slug, ModeStatus(*src))})
	src.Status = "retired"
	src.MergedInto = dst.Slug
	dst.History = append(dst.History, ModeHistory{Action: "absorbed", At: c.At, By: c.By, Detail: fmt.Sprintf("fm_%s merged in (%s)", src.Slug, plural(moved, "example"))})
	return nil
}

// Edit changes a mode's title and/or definition (empty means unchanged).
// It reports false when both already had those values.
func (f *TaxonomyFile) Edit(ref, title, definition string, c Change) (bool, error) {
	m, err := f.Find(ref)
	if err != nil {
		return false, err
	}
	if title == "" && definition == "" {
		return false, &UserError{Msg: "nothing to edit: pass --title and/or --definition"}
	}
	var details []string
	if title != "" && title != m.Title {
		details = append(details, fmt.Sprintf("title %q → %q", m.Title, title))
		m.Title = title
	}
	if definition != "" && definition != m.Definition {
		details = append(details, fmt.Sprintf("definition %q → %q", m.Definition, definition))
		m.Definition = definition
	}
	if len(details) == 0 {
		return false, nil
	}
	m.History = append(m.History, ModeHistory{Action: "edited", At: c.At, By: c.By, Detail: strings.Join(details, "; ")})
	return true, nil
}

// Sorted returns the modes sorted by status (candidate, official,
// retired) then slug.
func (t *Taxonomy) Sorted() []FailureMode {
	out := append([]FailureMode(nil), t.Modes...)
	sort.SliceStable(out, func(i, j int) bool {
		si, sj := ModeStatus(out[i]), ModeStatus(out[j])
		if si != sj {
			return si < sj
		}
		return out[i].Slug < out[j].Slug
	})
	return out
}

// Encode returns the file as it would be saved: the original node tree with
// the edits carried in, encoded like `selfevals fmt` does.
func (f *TaxonomyFile) Encode() ([]byte, error) {
	var fresh yaml.Node
	if err := fresh.Encode(&f.Taxonomy); err != nil {
		return nil, err
	}
	root := f.node
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	syncNode(root, &fresh)
	out, err := EncodeYAML(f.node)
	if err != nil {
		return nil, err
	}
	out, err = keepBlankLines(f.raw, f.node, out)
	if err != nil {
		return nil, err
	}
	// What is written must load: a failed edit never reaches the file.
	node, err := parseYAML(f.Path, out)
	if err != nil {
		return nil, err
	}
	if _, probs := validateTaxonomy(f.Path, node); len(probs) > 0 {
		return nil, fmt.Errorf("internal error: the edited taxonomy does not validate: %w", probs)
	}
	return out, nil
}

// Save writes the edits atomically. It writes nothing, and reports false,
// when the bytes would not change.
func (f *TaxonomyFile) Save() (bool, error) {
	out, err := f.Encode()
	if err != nil {
		return false, err
	}
	if bytes.Equal(out, f.raw) {
		return false, nil
	}
	perm := os.FileMode(0o644)
	if st, err := os.Stat(f.Path); err == nil {
		perm = st.Mode().Perm()
	}
	if err := WriteFileAtomic(f.Path, out, perm); err != nil {
		return false, err
	}
	node, err := parseYAML(f.Path, out)
	if err != nil {
		return true, err
	}
	f.node, f.raw = node, out
	return true, nil
}

// syncNode makes old hold what fresh holds while keeping old's comments,
// styles and key order: mapping keys are matched by name (new keys go
// after the key that precedes them in fresh), sequences by position, and a
// scalar is rewritten only when its value changed.
func syncNode(old, fresh *yaml.Node) {
	if old.Kind == yaml.AliasNode || old.Kind != fresh.Kind {
		hc, lc, fc := old.HeadComment, old.LineComment, old.FootComment
		*old = *fresh
		old.HeadComment, old.LineComment, old.FootComment = hc, lc, fc
		return
	}
	switch old.Kind {
	case yaml.MappingNode:
		want := map[string]*yaml.Node{}
		for i := 0; i+1 < len(fresh.Content); i += 2 {
			want[fresh.Content[i].Value] = fresh.Content[i+1]
		}
		kept := make([]*yaml.Node, 0, len(old.Content))
		for i := 0; i+1 < len(old.Content); i += 2 {
			if _, ok := want[old.Content[i].Value]; ok {
				kept = append(kept, old.Content[i], old.Content[i+1])
			}
		}
		old.Content = kept
		prev := -2 // index of the key-node the next new key goes after
		for j := 0; j+1 < len(fresh.Content); j += 2 {
			if idx := keyIndex(old, fresh.Content[j].Value); idx >= 0 {
				syncNode(old.Content[idx+1], fresh.Content[j+1])
				prev = idx
				continue
			}
			insertEntry(old, prev+2, fresh.Content[j], fresh.Content[j+1])
			prev += 2
		}
	case yaml.SequenceNode:
		if len(old.Content) == 0 {
			old.Style = fresh.Style
		}
		for i, c := range fresh.Content {
			if i < len(old.Content) {
				syncNode(old.Content[i], c)
			} else {
				old.Content = append(old.Content, c)
			}
		}
		old.Content = old.Content[:len(fresh.Content)]
	case yaml.ScalarNode:
		if old.Value != fresh.Value || old.ShortTag() != fresh.ShortTag() {
			old.Value, old.Tag, old.Style = fresh.Value, fresh.Tag, fresh.Style
		}
	}
}
