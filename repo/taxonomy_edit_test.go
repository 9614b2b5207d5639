package repo

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const commentedTaxonomy = `# Our failure modes.
modes:
  # The one everyone hits.
  - slug: says_miss
    title: Says miss # short
    definition: Answers miss when pong was expected.
    status: candidate
    proposed_by: agent:claude

  - slug: too_long
    title: Too long
    definition: >-
      Rambles past the
      length budget.
    status: official
    examples: [{trace_id: tr_1, note: three paragraphs}]
# trailing remark
`

func writeTaxonomy(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "taxonomy.yaml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Edits keep comments, blank lines, flow style and key order, and the
// result is what `selfevals fmt` would write.
func TestTaxonomyEditsKeepComments(t *testing.T) {
	path := writeTaxonomy(t, commentedTaxonomy)
	f, err := OpenTaxonomy(path)
	if err != nil {
		t.Fatal(err)
	}
	c := Change{By: "human:ann", At: "2026-01-02T03:04:05Z"}
	if ok, err := f.Promote("fm_says_miss", c); err != nil || !ok {
		t.Fatalf("promote: %v %v", ok, err)
	}
	if ok, err := f.Promote("says_miss", c); err != nil || ok {
		t.Fatalf("second promote should be a no-op: %v %v", ok, err)
	}
	if ok, err := f.Edit("too_long", "Too long (edited)", "", c); err != nil || !ok {
		t.Fatalf("edit: %v %v", ok, err)
	}
	if _, err := f.Edit("too_long", "", "", c); err == nil || !strings.Contains(err.Error(), "nothing to edit") {
		t.Fatalf("edit without flags: %v", err)
	}
	if !f.AddCandidate(FailureMode{Slug: "new_one", Title: "New one", Definition: "d", ProposedBy: "agent:x"}) {
		t.Fatal("AddCandidate refused a new slug")
	}
	if f.AddCandidate(FailureMode{Slug: "too_long", Title: "x", Definition: "y"}) {
		t.Fatal("AddCandidate accepted an existing slug")
	}
	if ok, _ := f.AddExample("fm_says_miss", ModeExample{TraceID: "tr_2", Quote: "miss"}); !ok {
		t.Fatal("AddExample")
	}
	if ok, _ := f.AddExample("says_miss", ModeExample{TraceID: "tr_2"}); ok {
		t.Fatal("AddExample did not deduplicate by trace")
	}
	if err := f.Merge("says_miss", "too_long", c); err != nil {
		t.Fatal(err)
	}
	if err := f.Merge("too_long", "too_long", c); err == nil {
		t.Fatal("merge into itself allowed")
	}
	if changed, err := f.Save(); err != nil || !changed {
		t.Fatalf("save: %v %v", changed, err)
	}
	got, _ := os.ReadFile(path)
	want := `# Our failure modes.
modes:
  # The one everyone hits.
  - slug: says_miss
    title: Says miss # short
    definition: Answers miss when pong was expected.
    status: retired
    examples:
      - trace_id: tr_2
        quote: miss
    proposed_by: agent:claude
    merged_into: too_long
    history:
      - action: promoted
        at: "2026-01-02T03:04:05Z"
        by: human:ann
        detail: candidate → official
      - action: merged
        at: "2026-01-02T03:04:05Z"
        by: human:ann
        detail: into fm_too_long (was official)

  - slug: too_long
    title: Too long (edited)
    definition: >-
      Rambles past the length budget.
    status: official
    examples: [{trace_id: tr_1, note: three paragraphs}, {trace_id: tr_2, quote: miss}]
    history:
      - action: edited
        at: "2026-01-02T03:04:05Z"
        by: human:ann
        detail: title "Too long" → "Too long (edited)"
      - action: absorbed
        at: "2026-01-02T03:04:05Z"
        by: human:ann
        detail: fm_says_miss merged in (1 example)
  - slug: new_one
    title: New one
    definition: d
    status: candidate
    proposed_by: agent:x
# trailing remark
`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("saved taxonomy (-want +got):\n%s", diff)
	}
	formatted, err := FormatYAML(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(formatted) != string(got) {
		t.Errorf("saved taxonomy is not canonical:\n%s", cmp.Diff(string(got), string(formatted)))
	}
	// Old assignments to the merged mode resolve to where it went.
	tax, err := LoadTaxonomy(path)
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := tax.Resolve("fm_says_miss"); !ok || m.Slug != "too_long" {
		t.Errorf("Resolve(fm_says_miss) = %v %v", m.Slug, ok)
	}
	// Saving again without edits writes nothing.
	f2, _ := OpenTaxonomy(path)
	if changed, err := f2.Save(); err != nil || changed {
		t.Errorf("save without edits: %v %v", changed, err)
	}
}

func TestTaxonomyFindSuggests(t *testing.T) {
	f, err := OpenTaxonomy(writeTaxonomy(t, commentedTaxonomy))
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Find("fm_says_mis")
	if err == nil || !IsUserError(err) || !strings.Contains(err.Error(), "did you mean fm_says_miss?") {
		t.Errorf("Find: %v", err)
	}
}

func TestTaxonomyMergeCycleRejected(t *testing.T) {
	path := writeTaxonomy(t, `modes:
  - {slug: a, title: A, definition: a, status: retired, merged_into: b}
  - {slug: b, title: B, definition: b, status: retired, merged_into: a}
`)
	if _, err := LoadTaxonomy(path); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("cycle: %v", err)
	}
}

// A push adds each assigned trace as an example of its mode: the cost per
// example stays flat as the mode's examples grow (an index, not a scan of
// the list per example). Compare ns/op across the sizes.
func BenchmarkAddExamples(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("examples=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			path := filepath.Join(dir, "taxonomy.yaml")
			if err := os.WriteFile(path, []byte(commentedTaxonomy), 0o644); err != nil {
				b.Fatal(err)
			}
			ids := make([]string, n)
			for i := range ids {
				ids[i] = fmt.Sprintf("tr_%08d", i)
			}
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				f, err := OpenTaxonomy(path)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				for _, id := range ids {
					if _, err := f.AddExample("says_miss", ModeExample{TraceID: id}); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/example")
		})
	}
}
