package repo

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// refNameProblem says why a slug that passes slugPattern still cannot be a
// component of a git ref (git check-ref-format): a run would fail at its
// candidate commit, after every call was made.
func refNameProblem(slug string) string {
	switch {
	case strings.Contains(slug, ".."):
		return `git refs cannot contain ".."`
	case strings.HasSuffix(slug, ".lock"):
		return `git refs cannot end in ".lock"`
	case strings.HasSuffix(slug, "."):
		return `git refs cannot end in "."`
	}
	return ""
}

// SlugTaken returns another spec whose slug is slug: its results, runs and
// candidate branch would be the same as specPath's, so one would overwrite
// the other. "" when the slug is specPath's alone. Only the places the
// slug resolves to under d are looked at (evals/experiments/<slug>.yaml
// and .yml): a spec elsewhere takes its slug from its file name too.
func (d Dir) SlugTaken(specPath, slug string) (string, error) {
	self, err := os.Stat(specPath)
	if err != nil {
		return "", err
	}
	for _, other := range d.SpecCandidates(slug) {
		st, err := os.Stat(other)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		if !os.SameFile(self, st) {
			return other, nil
		}
	}
	return "", nil
}

// CheckSlugUnique is SlugTaken as a user error naming both files.
func (d Dir) CheckSlugUnique(specPath, slug string) error {
	other, err := d.SlugTaken(specPath, slug)
	if err != nil || other == "" {
		return err
	}
	if rel, err := filepath.Rel(filepath.Dir(d.Path()), other); err == nil {
		other = rel
	}
	return &UserError{
		Msg:  fmt.Sprintf("%s and %s are both experiment %q: their results, runs and branch selfevals/%s would overwrite each other", specPath, other, slug, slug),
		Hint: "rename one of the two files (the slug is the file name)",
	}
}
