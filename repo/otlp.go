package repo

import (
	"fmt"
	"strings"
	"time"

	"github.com/goccy/go-json"
	"gopkg.in/yaml.v3"
)

// OTLP is agent.otlp: `true`, or a mapping of options (which turns capture
// on unless it says enabled: false). With it a run receives the agent's
// OpenTelemetry spans and folds them into each call's trace.
type OTLP struct {
	Enabled bool `yaml:"enabled" json:"enabled"`
	// Grace is how long a call waits, after the agent answered, for spans
	// that have not arrived; nil is DefaultOTLPGrace. A call whose spans
	// have all arrived does not wait.
	Grace *Duration `yaml:"grace,omitempty" json:"grace,omitempty"`
	// MaxSpans and MaxBytes cap what one call keeps (0: the defaults);
	// spans past either are counted, not kept.
	MaxSpans int   `yaml:"max_spans,omitempty" json:"max_spans,omitempty"`
	MaxBytes int64 `yaml:"max_bytes,omitempty" json:"max_bytes,omitempty"`
	// Prices turn token usage into cost for calls that report none, by
	// model name (gen_ai.response.model, else gen_ai.request.model, else
	// the response's model).
	Prices map[string]ModelPrice `yaml:"prices,omitempty" json:"prices,omitempty"`
}

// ModelPrice is what a model charges, in US dollars per million tokens.
type ModelPrice struct {
	InputPerMTok  float64 `yaml:"input_per_mtok" json:"input_per_mtok"`
	OutputPerMTok float64 `yaml:"output_per_mtok" json:"output_per_mtok"`
}

// Defaults of agent.otlp's options.
const (
	DefaultOTLPGrace    = 200 * time.Millisecond
	DefaultOTLPMaxSpans = 1000
	DefaultOTLPMaxBytes = 4 << 20
)

// On reports whether span capture is on; o may be nil.
func (o *OTLP) On() bool { return o != nil && o.Enabled }

// GraceD is the grace period with its default.
func (o *OTLP) GraceD() time.Duration {
	if o == nil || o.Grace == nil {
		return DefaultOTLPGrace
	}
	return o.Grace.D()
}

// SpanCap is max_spans with its default.
func (o *OTLP) SpanCap() int {
	if o == nil || o.MaxSpans <= 0 {
		return DefaultOTLPMaxSpans
	}
	return o.MaxSpans
}

// ByteCap is max_bytes with its default.
func (o *OTLP) ByteCap() int64 {
	if o == nil || o.MaxBytes <= 0 {
		return DefaultOTLPMaxBytes
	}
	return o.MaxBytes
}

// Price finds the price of model: its exact name, else the longest priced
// name it starts with followed by '-' or '@' (gpt-4o-2024-08-06 is priced as
// gpt-4o), as providers date their model names.
func (o *OTLP) Price(model string) (ModelPrice, bool) {
	if o == nil || model == "" {
		return ModelPrice{}, false
	}
	if p, ok := o.Prices[model]; ok {
		return p, true
	}
	best, found := "", false
	for name := range o.Prices {
		if len(name) > len(best) && strings.HasPrefix(model, name) && len(model) > len(name) &&
			(model[len(name)] == '-' || model[len(name)] == '@') {
			best, found = name, true
		}
	}
	return o.Prices[best], found
}

// Cost is the price of a number of tokens.
func (p ModelPrice) Cost(in, out int64) float64 {
	return (float64(in)*p.InputPerMTok + float64(out)*p.OutputPerMTok) / 1e6
}

// otlpOptions is OTLP without its methods, for decoding the mapping form.
type otlpOptions OTLP

// yamlShorthand marks OTLP as a type whose mapping form the strict checker
// walks like a struct (unknown keys, kinds), its scalar form being its own.
func (*OTLP) yamlShorthand() {}

// UnmarshalYAML accepts true/false or a mapping of options.
func (o *OTLP) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.ShortTag() != "!!bool" {
			return fmt.Errorf("expected true, false or a mapping of options (grace, max_spans, max_bytes, prices), got %q", n.Value)
		}
		*o = OTLP{}
		return n.Decode(&o.Enabled)
	case yaml.MappingNode:
		v := otlpOptions{Enabled: true}
		if err := n.Decode(&v); err != nil {
			return err
		}
		*o = OTLP(v)
		return nil
	}
	return fmt.Errorf("expected true, false or a mapping of options, got a %s", kindName(n))
}

// MarshalJSON writes `true` or `false` when no option is set, so that a
// spec saying otlp: true hashes as it did when the key was a boolean.
func (o OTLP) MarshalJSON() ([]byte, error) {
	if o.Grace == nil && o.MaxSpans == 0 && o.MaxBytes == 0 && len(o.Prices) == 0 {
		return json.Marshal(o.Enabled)
	}
	return json.Marshal(otlpOptions(o))
}

// otlp checks agent.otlp's options.
func (c *specCheck) otlp(field string, o *OTLP) {
	if o == nil {
		return
	}
	field += ".otlp"
	if field != "agent.otlp" {
		c.add(field, "only applies to the experiment's agent", "remove it from the judge")
		return
	}
	if o.Grace != nil && o.Grace.D() > time.Minute {
		c.add(field+".grace", "must be at most 1m", "late spans usually arrive within a few hundred milliseconds; the default is 200ms")
	}
	if o.MaxSpans < 0 {
		c.add(field+".max_spans", "must be positive", "")
	}
	if o.MaxBytes < 0 {
		c.add(field+".max_bytes", "must be positive", "")
	}
	for model, p := range o.Prices {
		if p.InputPerMTok < 0 || p.OutputPerMTok < 0 {
			c.add(field+".prices."+model, "prices must not be negative", "US dollars per million tokens, e.g. {input_per_mtok: 2.5, output_per_mtok: 10}")
		}
		if p.InputPerMTok == 0 && p.OutputPerMTok == 0 {
			c.add(field+".prices."+model, "sets neither input_per_mtok nor output_per_mtok", "US dollars per million tokens, e.g. {input_per_mtok: 2.5, output_per_mtok: 10}")
		}
	}
}
