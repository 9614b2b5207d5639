package adapters

import "testing"

// A cost of 0 the agent reports is a measurement, told apart from no cost.
func TestParseResponseToldZeroCostFromNone(t *testing.T) {
	for body, want := range map[string]bool{
		`{"output":"x","cost_usd":0}`:    true,
		`{"output":"x","cost_usd":0.0}`:  true,
		`{"output":"x","cost_usd":0.25}`: false, // positive: reported by its value alone
		`{"output":"x"}`:                 false,
		`{"output":"x","cost_usd":null}`: false,
	} {
		resp, err := ParseResponse([]byte(body))
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if resp.CostReported != want {
			t.Errorf("%s: CostReported = %v, want %v", body, resp.CostReported, want)
		}
	}
}
