package repo

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-json"
)

func loadAgent(t *testing.T, agent string) (*LoadedSpec, error) {
	t.Helper()
	spec := strings.Replace(goodSpec, "agent:\n  builtin: echo\n", "agent:\n  command: [echo]\n"+agent, 1)
	_, path := specDir(t, spec, `{"input":{"text":"a"}}`+"\n")
	return LoadExperiment(path, LoadOptions{Root: filepath.Dir(filepath.Dir(filepath.Dir(path)))})
}

// agent.otlp is true, false, or a mapping of options that turns it on.
func TestOTLPSpecForms(t *testing.T) {
	ls, err := loadAgent(t, "  otlp: true\n")
	if err != nil {
		t.Fatal(err)
	}
	o := ls.Spec.Agent.OTLP
	if !o.On() || o.GraceD() != DefaultOTLPGrace || o.SpanCap() != DefaultOTLPMaxSpans || o.ByteCap() != DefaultOTLPMaxBytes {
		t.Errorf("otlp: true gave %+v", o)
	}
	if b, _ := json.Marshal(ls.Spec.Agent); !strings.Contains(string(b), `"otlp":true`) {
		t.Errorf("otlp: true encodes as %s: the experiment ID of such specs would change", b)
	}

	ls, err = loadAgent(t, "  otlp:\n    grace: 1s\n    max_spans: 50\n    max_bytes: 1000\n    prices:\n      gpt-4o: {input_per_mtok: 2.5, output_per_mtok: 10}\n")
	if err != nil {
		t.Fatal(err)
	}
	o = ls.Spec.Agent.OTLP
	if !o.On() || o.GraceD() != time.Second || o.SpanCap() != 50 || o.ByteCap() != 1000 {
		t.Errorf("options gave %+v", o)
	}
	if p, ok := o.Price("gpt-4o-2024-08-06"); !ok || p.Cost(1e6, 1e6) != 12.5 {
		t.Errorf("dated model price %+v %v", p, ok)
	}
	if _, ok := o.Price("gpt-4o2"); ok {
		t.Error("gpt-4o2 priced as gpt-4o")
	}
	ls, err = loadAgent(t, "  otlp: {enabled: false, grace: 0s}\n")
	if err != nil || ls.Spec.Agent.OTLP.On() || ls.Spec.Agent.OTLP.GraceD() != 0 {
		t.Errorf("enabled: false: %+v %v", ls.Spec.Agent.OTLP, err)
	}
}

// Bad options are reported with the file, line and field.
func TestOTLPSpecProblems(t *testing.T) {
	for _, tc := range []struct{ agent, want string }{
		{"  otlp: yes please\n", `x.yaml:10:9: agent.otlp: expected true, false or a mapping of options`},
		{"  otlp: {grce: 1s}\n", `x.yaml:10:10: agent.otlp.grce: unknown key (did you mean "grace"?)`},
		{"  otlp: {grace: soon}\n", `agent.otlp.grace: invalid duration "soon"`},
		{"  otlp: {grace: 2m}\n", `agent.otlp.grace: must be at most 1m`},
		{"  otlp: {max_spans: -1}\n", `agent.otlp.max_spans: must be positive`},
		{"  otlp: {max_bytes: lots}\n", `agent.otlp.max_bytes: expected a whole number, got string "lots"`},
		{"  otlp: {prices: {m: {input_per_mtok: -1, output_per_mtok: 1}}}\n", `agent.otlp.prices.m: prices must not be negative`},
		{"  otlp: {prices: {m: {}}}\n", `agent.otlp.prices.m: sets neither input_per_mtok nor output_per_mtok`},
		{"  otlp: {prices: {m: {input: 1}}}\n", `agent.otlp.prices.m.input: unknown key`},
	} {
		_, err := loadAgent(t, tc.agent)
		if err == nil || !IsUserError(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v\nwant %q", tc.agent, err, tc.want)
		}
	}
}
