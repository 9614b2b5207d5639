package repo

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/goccy/go-json"
	"gopkg.in/yaml.v3"
)

// checkNode walks a YAML node against the Go type it will be decoded into and
// reports every unknown key (with the nearest valid key), duplicate key and
// wrong-kind value, each with its line, column and field path. Decoding only
// happens when the walk finds nothing, so users see all problems at once and
// in their own terms rather than yaml's first type error.
func checkNode(file string, n *yaml.Node, t reflect.Type, path string, probs *Problems) {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode {
		// Typed fields are not recursive, so following an alias ends; a
		// cycle can only sit under a free-form value, which jsonValueOf
		// guards.
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	add := func(msg, hint string) {
		*probs = append(*probs, Problem{File: file, Line: n.Line, Col: n.Column, Field: path, Msg: msg, Hint: hint})
	}
	if n.ShortTag() == "!!null" && t.Kind() != reflect.Interface {
		return // an empty value leaves the default
	}
	if t == nodeType {
		return
	}
	if t == rawMessageType {
		t = anyType
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		// Types with their own YAML decoding report their own errors.
		v := reflect.New(t)
		if err := n.Decode(v.Interface()); err != nil {
			*probs = append(*probs, problemFromDecode(file, n, path, err))
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			add(fmt.Sprintf("expected a mapping, got a %s", kindName(n)), "")
			return
		}
		fields := yamlFields(t)
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := k.Value
			kp := joinPath(path, key)
			if seen[key] {
				*probs = append(*probs, Problem{File: file, Line: k.Line, Col: k.Column, Field: kp, Msg: "duplicate key"})
				continue
			}
			seen[key] = true
			f, ok := fields.byName[key]
			if !ok {
				hint := ""
				if s := Suggest(key, fields.names); s != "" {
					hint = fmt.Sprintf("did you mean %q?", s)
				} else {
					hint = "valid keys: " + strings.Join(fields.names, ", ")
				}
				*probs = append(*probs, Problem{File: file, Line: k.Line, Col: k.Column, Field: kp, Msg: "unknown key", Hint: hint})
				continue
			}
			checkNode(file, v, f.Type, kp, probs)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			add(fmt.Sprintf("expected a mapping, got a %s", kindName(n)), "")
			return
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			kp := joinPath(path, k.Value)
			if seen[k.Value] {
				*probs = append(*probs, Problem{File: file, Line: k.Line, Col: k.Column, Field: kp, Msg: "duplicate key"})
				continue
			}
			seen[k.Value] = true
			checkNode(file, n.Content[i+1], t.Elem(), kp, probs)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			add(fmt.Sprintf("expected a list, got a %s", kindName(n)), "")
			return
		}
		for i, c := range n.Content {
			checkNode(file, c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), probs)
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!str" && n.ShortTag() != "!!timestamp" && n.ShortTag() != "!!binary") {
			add(fmt.Sprintf("expected a string, got %s", describe(n)), "quote it if it is meant as text")
		}
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			add(fmt.Sprintf("expected true or false, got %s", describe(n)), "")
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
			add(fmt.Sprintf("expected a whole number, got %s", describe(n)), "")
		}
	case reflect.Float64:
		if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
			add(fmt.Sprintf("expected a number, got %s", describe(n)), "")
		}
	case reflect.Interface:
		if _, err := jsonValueOf(n); err != nil {
			*probs = append(*probs, problemFromDecode(file, n, path, err))
		}
	}
}

func describe(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return fmt.Sprintf("%s %q", kindName(n), n.Value)
	}
	return "a " + kindName(n)
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func problemFromDecode(file string, n *yaml.Node, path string, err error) Problem {
	p := Problem{File: file, Line: n.Line, Col: n.Column, Field: path, Msg: err.Error()}
	if ne, ok := err.(*nodeError); ok {
		p.Line, p.Col, p.Msg = ne.node.Line, ne.node.Column, ne.msg
	}
	return p
}

var (
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	nodeType        = reflect.TypeFor[yaml.Node]()
	rawMessageType  = reflect.TypeFor[json.RawMessage]()
	anyType         = reflect.TypeFor[any]()
	caseYAMLType    = reflect.TypeFor[Case]()
)

type fieldSet struct {
	byName map[string]reflect.StructField
	names  []string
}

var fieldCache sync.Map // reflect.Type → *fieldSet

func yamlFields(t reflect.Type) *fieldSet {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.(*fieldSet)
	}
	fs := &fieldSet{byName: map[string]reflect.StructField{}}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if tag == "" {
			// Case types are JSON-first; the same names apply in YAML.
			tag = f.Tag.Get("json")
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "" || name == "-" {
			continue
		}
		fs.byName[name] = f
		fs.names = append(fs.names, name)
	}
	sort.Strings(fs.names)
	fieldCache.Store(t, fs)
	return fs
}

// decodeStrict checks n against out's type and, when it is clean, decodes it.
func decodeStrict(file string, n *yaml.Node, out any, path string) Problems {
	var probs Problems
	checkNode(file, n, reflect.TypeOf(out), path, &probs)
	if len(probs) > 0 {
		return probs
	}
	if err := n.Decode(out); err != nil {
		return Problems{problemFromDecode(file, n, path, err)}
	}
	return nil
}

// findNode returns the node at a dotted path below n (mapping keys only), or
// nil. It locates semantic errors found after decoding.
func findNode(n *yaml.Node, path string) (key, value *yaml.Node) {
	if n == nil {
		return nil, nil
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if path == "" {
		return n, n
	}
	head, rest, _ := strings.Cut(path, ".")
	idx := -1
	if b := strings.IndexByte(head, '['); b >= 0 && strings.HasSuffix(head, "]") {
		fmt.Sscanf(head[b:], "[%d]", &idx)
		head = head[:b]
	}
	if n.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value != head {
			continue
		}
		k, v := n.Content[i], n.Content[i+1]
		if idx >= 0 {
			if v.Kind != yaml.SequenceNode || idx >= len(v.Content) {
				return k, v
			}
			k, v = v.Content[idx], v.Content[idx]
		}
		if rest == "" {
			return k, v
		}
		if ck, cv := findNode(v, rest); ck != nil {
			return ck, cv
		}
		return k, v
	}
	return nil, nil
}
