package repo

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/goccy/go-json"
	"github.com/selfevals/selfevals/repo/internal/jsonwriter"
	"gopkg.in/yaml.v3"
)

// Parameters is one configuration of the editable surface, e.g.
// {"model_params": {"temperature": 0.3}, "prompt_variables": {...}}.
type Parameters map[string]any

// ID is the parameters' content-hash ID (par_…). Empty parameters have an ID
// too, so a spec without an adopted configuration still names its baseline.
func (p Parameters) ID() string {
	if p == nil {
		p = Parameters{}
	}
	id, err := HashID("par", map[string]any(p))
	if err != nil {
		// Parameters come from YAML or JSON, so they always encode.
		panic(fmt.Sprintf("parameters do not encode as JSON: %v", err))
	}
	return id
}

// UnmarshalYAML decodes a mapping into JSON-compatible values.
func (p *Parameters) UnmarshalYAML(n *yaml.Node) error {
	v, err := jsonValueOf(n)
	if err != nil {
		return err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("expected a mapping, got a %s", kindName(n))
	}
	*p = m
	return nil
}

// Number reads a number as the decoders hand them out (float64, int64, int
// or json.Number).
func Number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

// KeyValue is one entry of an OrderedMap.
type KeyValue struct {
	Key   string
	Value any
}

// OrderedMap is a mapping that remembers the order of its keys in the file
// (the grid proposer enumerates keys in file order).
type OrderedMap []KeyValue

// Get returns the value of key.
func (m OrderedMap) Get(key string) (any, bool) {
	for _, kv := range m {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return nil, false
}

// UnmarshalYAML keeps the keys in file order.
func (m *OrderedMap) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("expected a mapping, got a %s", kindName(n))
	}
	out := make(OrderedMap, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		v, err := jsonValueOf(n.Content[i+1])
		if err != nil {
			return err
		}
		out = append(out, KeyValue{Key: n.Content[i].Value, Value: v})
	}
	*m = out
	return nil
}

// MarshalJSON writes the entries as an object in file order, each as
// goccy's json.Marshal writes it (jsonwriter.AppendMarshal, which spares
// compiling an encoder for each type of value on every command's start).
func (m OrderedMap) MarshalJSON() ([]byte, error) {
	buf := []byte{'{'}
	for i, kv := range m {
		if i > 0 {
			buf = append(buf, ',')
		}
		var err error
		if buf, err = jsonwriter.AppendMarshal(buf, kv.Key); err != nil {
			return nil, err
		}
		buf = append(buf, ':')
		if buf, err = jsonwriter.AppendMarshal(buf, kv.Value); err != nil {
			return nil, err
		}
	}
	return append(buf, '}'), nil
}

// jsonValueOf decodes a YAML node into values JSON can hold: string-keyed
// maps, slices, strings, float64/int64 numbers, bools and nil.
func jsonValueOf(n *yaml.Node) (any, error) {
	x := &aliasExpander{budget: maxYAMLNodes, active: map[*yaml.Node]bool{}}
	return x.value(n)
}

// maxYAMLNodes bounds alias expansion ("billion laughs").
const maxYAMLNodes = 1 << 20

// aliasExpander expands aliases with a node budget and rejects an alias
// that refers to one of its own ancestors.
type aliasExpander struct {
	budget int
	active map[*yaml.Node]bool
}

func (x *aliasExpander) value(n *yaml.Node) (any, error) {
	x.budget--
	if x.budget < 0 {
		return nil, &nodeError{node: n, msg: "the document expands to too many values (excessive aliasing)"}
	}
	if x.active[n] {
		return nil, &nodeError{node: n, msg: "an alias refers to a value that contains it"}
	}
	x.active[n] = true
	defer delete(x.active, n)
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return x.value(n.Content[0])
	case yaml.AliasNode:
		return x.value(n.Alias)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || (k.Tag != "!!str" && k.Tag != "!!int" && k.Tag != "!!float" && k.Tag != "!!bool") {
				return nil, &nodeError{node: k, msg: "mapping keys must be plain strings"}
			}
			if k.Value == "<<" {
				return nil, &nodeError{node: k, msg: "YAML merge keys (<<) are not supported here"}
			}
			v, err := x.value(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			if _, dup := m[k.Value]; dup {
				return nil, &nodeError{node: k, msg: fmt.Sprintf("duplicate key %q", k.Value)}
			}
			m[k.Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := x.value(c)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, nil
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err != nil {
				return nil, &nodeError{node: n, msg: err.Error()}
			}
			return b, nil
		case "!!int":
			var i int64
			if err := n.Decode(&i); err != nil {
				var f float64
				if err2 := n.Decode(&f); err2 != nil {
					return nil, &nodeError{node: n, msg: err.Error()}
				}
				return f, nil
			}
			return i, nil
		case "!!float":
			var f float64
			if err := n.Decode(&f); err != nil {
				return nil, &nodeError{node: n, msg: err.Error()}
			}
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, &nodeError{node: n, msg: fmt.Sprintf("%s is not a number JSON can hold", n.Value)}
			}
			return f, nil
		case "!!str":
			return n.Value, nil
		case "!!binary", "!!timestamp":
			return n.Value, nil
		default:
			return nil, &nodeError{node: n, msg: fmt.Sprintf("unsupported YAML tag %s", n.Tag)}
		}
	}
	return nil, &nodeError{node: n, msg: "unsupported YAML node"}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!int", "!!float":
			return "number"
		case "!!bool":
			return "boolean"
		}
		return "string"
	case yaml.AliasNode:
		return "alias"
	}
	return "document"
}

// FormatNumber formats a metric value for people: integers without a
// fraction, others with up to 4 significant digits, and never in
// scientific notation (a 10500.5 ms latency reads 10501, not 1.05e+04).
func FormatNumber(f float64) string {
	if math.Abs(f) >= 1e4 && math.Abs(f) < 1e15 {
		f = math.Round(f) // the fraction of a large value says nothing
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	s := strconv.FormatFloat(f, 'g', 4, 64)
	if strings.ContainsRune(s, 'e') {
		v, _ := strconv.ParseFloat(s, 64)
		s = strconv.FormatFloat(v, 'f', -1, 64) // a tiny value: 0.00001234
	}
	return s
}

// nodeError is an error located at a YAML node.
type nodeError struct {
	node *yaml.Node
	msg  string
}

func (e *nodeError) Error() string { return e.msg }
