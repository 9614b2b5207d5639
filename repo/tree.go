package repo

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// FileKind is what a file of the evals/ tree holds.
type FileKind string

// File kinds of the evals/ tree.
const (
	KindSpec     FileKind = "spec"
	KindDataset  FileKind = "dataset"
	KindCard     FileKind = "card"
	KindTaxonomy FileKind = "taxonomy"
	KindSettings FileKind = "settings"
)

// TreeFile is one file of the evals/ tree that users write.
type TreeFile struct {
	Path string
	Kind FileKind
}

// TreeFiles lists the files of an evals/ directory that validate and fmt
// look at: settings, taxonomy, experiment specs, datasets and grader cards.
func TreeFiles(dir string) ([]TreeFile, error) {
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return nil, &UserError{Msg: fmt.Sprintf("no evals directory at %s", dir), Hint: "run selfevals init, or pass --dir"}
	}
	var out []TreeFile
	for _, f := range []struct {
		name string
		kind FileKind
	}{{Dir(dir).Settings(), KindSettings}, {Dir(dir).Taxonomy(), KindTaxonomy}} {
		p := f.name
		if _, err := os.Stat(p); err == nil {
			out = append(out, TreeFile{p, f.kind})
		}
	}
	for _, sub := range []struct {
		dir  string
		exts []string
		kind FileKind
	}{{Dir(dir).Experiments(), SpecExts, KindSpec}, {Dir(dir).Datasets(), []string{".jsonl"}, KindDataset}, {Dir(dir).Graders(), SpecExts, KindCard}} {
		entries, err := os.ReadDir(sub.dir)
		if err != nil {
			continue
		}
		var names []string
		for _, e := range entries {
			if !e.IsDir() && hasExt(e.Name(), sub.exts) {
				names = append(names, e.Name())
			}
		}
		sort.Strings(names)
		for _, n := range names {
			out = append(out, TreeFile{filepath.Join(sub.dir, n), sub.kind})
		}
	}
	return out, nil
}

func hasExt(name string, exts []string) bool {
	for _, e := range exts {
		if strings.HasSuffix(name, e) {
			return true
		}
	}
	return false
}

// KindOf guesses what a named file holds from its name and place.
func KindOf(path string) (FileKind, error) {
	base := filepath.Base(path)
	parent := filepath.Base(filepath.Dir(path))
	switch {
	case strings.HasSuffix(base, ".jsonl"):
		return KindDataset, nil
	case base == SettingsName:
		return KindSettings, nil
	case base == TaxonomyName:
		return KindTaxonomy, nil
	case hasExt(base, SpecExts) && parent == GradersName:
		return KindCard, nil
	case hasExt(base, SpecExts):
		return KindSpec, nil
	}
	return "", Userf("%s: not a file selfevals knows (expected a .yaml spec, settings, taxonomy or card, or a .jsonl dataset)", path)
}

// CheckFile validates one file and returns a one-line summary of what it
// holds (its ID and case count where it has them).
func CheckFile(f TreeFile, opts LoadOptions) (string, []string, error) {
	switch f.Kind {
	case KindSpec:
		ls, err := LoadExperiment(f.Path, opts)
		if err != nil {
			return "", nil, err
		}
		warnings := append(ls.Warnings, ls.RepetitionWarnings()...)
		// Specs live in <evals>/experiments/, results in <evals>/results/.
		evals := filepath.Dir(filepath.Dir(f.Path))
		if err := Dir(evals).CheckSlugUnique(f.Path, ls.Slug); err != nil {
			return "", nil, err
		}
		if stale := StaleResultsAt(evals, ls); stale != "" {
			warnings = append(warnings, stale)
		}
		return fmt.Sprintf("%s  %s  %s", ls.ID, plural(ls.Dataset.Count, "case"), ls.Dataset.ID), warnings, nil
	case KindDataset:
		ds, err := LoadDataset(f.Path)
		if err != nil {
			return "", nil, err
		}
		return fmt.Sprintf("%s  %s", ds.ID, plural(ds.Count, "case")), nil, nil
	case KindCard:
		c, err := LoadGraderCard(f.Path)
		if err != nil {
			return "", nil, err
		}
		state := c.State
		if state == "" {
			state = "no state"
		}
		return fmt.Sprintf("grader card %s (%s)", c.Name, state), nil, nil
	case KindTaxonomy:
		t, err := LoadTaxonomy(f.Path)
		if err != nil {
			return "", nil, err
		}
		counts := map[string]int{}
		for _, m := range t.Modes {
			s := m.Status
			if s == "" {
				s = "candidate"
			}
			counts[s]++
		}
		return fmt.Sprintf("%s (%d official, %d candidate, %d retired)", plural(len(t.Modes), "failure mode"), counts["official"], counts["candidate"], counts["retired"]), nil, nil
	case KindSettings:
		if _, err := LoadSettings(filepath.Dir(f.Path)); err != nil {
			return "", nil, err
		}
		return "settings", nil, nil
	}
	return "", nil, fmt.Errorf("unknown file kind %q", f.Kind)
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
