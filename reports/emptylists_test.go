package reports

import (
	"encoding/json"
	"strings"
	"testing"
)

// A nil list reads [] in the JSON reports write, unless it is omitempty;
// raw JSON and nested lists are handled as such.
func TestEmptyLists(t *testing.T) {
	type inner struct {
		Names []string `json:"names"`
	}
	type outer struct {
		Items    []inner           `json:"items"`
		Ptr      *inner            `json:"ptr"`
		ByKey    map[string]*inner `json:"by_key"`
		Optional []string          `json:"optional,omitempty"`
		Raw      json.RawMessage   `json:"raw"`
	}
	v := &outer{Items: []inner{{}}, Ptr: &inner{}, ByKey: map[string]*inner{"k": {}}}
	b, err := indentedJSON(v)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(strings.Fields(string(b)), " ")
	want := `{ "items": [ { "names": [] } ], "ptr": { "names": [] }, "by_key": { "k": { "names": [] } }, "raw": null }`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
