package main

import (
	"regexp"
	"strings"
	"testing"
)

// JSON output writes a list with no entries as [], never null: diff's
// case lists on a clean tree, here.
func TestDiffJSONEmptyListsAreLists(t *testing.T) {
	t.Parallel()
	dir, _, _ := diffRepo(t)
	out, errOut, code := runCLI(t, dir, "diff", "HEAD", "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	for _, key := range []string{"regressed", "fixed", "new", "removed", "definition_changed"} {
		if !strings.Contains(out, `"`+key+`": []`) {
			t.Errorf("%s is not an empty list:\n%s", key, out)
		}
	}
	if m := regexp.MustCompile(`"[a-z_]+(s|ed|ing|ures)": null`).FindAllString(out, -1); len(m) > 0 {
		t.Errorf("lists written as null: %v", m)
	}
}
