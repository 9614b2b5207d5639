package gitstore

import (
	"errors"
	"io/fs"
	"slices"
	"testing"
)

func TestTreeAt(t *testing.T) {
	t.Parallel()
	dir := newRepo(t, map[string]string{
		"evals/experiments/a.yaml":         "a\n",
		"evals/experiments/b.yaml":         "b\n",
		"evals/results/a/summary.json":     "{}\n",
		"evals/results/b/cases.jsonl":      "\n",
		"evals/datasets/d.jsonl":           "{}\n",
		"evals/datasets/nested/deep.jsonl": "{}\n",
	})
	first := git(t, dir, "rev-parse", "HEAD")
	writeFile(t, dir, "evals/experiments/a.yaml", "a2\n")
	commitAll(t, dir, "second")
	g := open(t, dir)

	old, err := g.TreeAt(first[:8])
	if err != nil {
		t.Fatal(err)
	}
	if old.Commit() != first {
		t.Errorf("Commit() = %s, want %s", old.Commit(), first)
	}
	if b, err := old.ReadFile("evals/experiments/a.yaml"); err != nil || string(b) != "a\n" {
		t.Errorf("ReadFile at the first commit = %q, %v", b, err)
	}
	head, err := g.TreeAt("HEAD")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := head.ReadFile("evals/experiments/a.yaml"); err != nil || string(b) != "a2\n" {
		t.Errorf("ReadFile at HEAD = %q, %v", b, err)
	}
	for _, p := range []string{"evals/missing", "evals/results", "nope/deeper/x"} {
		if _, err := head.ReadFile(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("ReadFile(%s): err = %v, want fs.ErrNotExist", p, err)
		}
	}
	if _, err := head.ReadFile("../x"); err == nil {
		t.Error("ReadFile(../x) succeeded")
	}

	files, dirs, err := head.List("evals/datasets")
	if err != nil || !slices.Equal(files, []string{"d.jsonl"}) || !slices.Equal(dirs, []string{"nested"}) {
		t.Errorf("List(evals/datasets) = %v %v %v", files, dirs, err)
	}
	files, dirs, err = head.List("evals/results/")
	if err != nil || len(files) != 0 || !slices.Equal(dirs, []string{"a", "b"}) {
		t.Errorf("List(evals/results/) = %v %v %v", files, dirs, err)
	}
	files, dirs, err = head.List("evals/graders")
	if err != nil || files != nil || dirs != nil {
		t.Errorf("List of a missing directory = %v %v %v", files, dirs, err)
	}
	if _, dirs, err := head.List(""); err != nil || !slices.Equal(dirs, []string{"evals"}) {
		t.Errorf("List(root) = %v %v", dirs, err)
	}

	if _, err := g.TreeAt("HEAD@{1}"); err == nil {
		t.Error("TreeAt accepted reflog syntax")
	}
}
