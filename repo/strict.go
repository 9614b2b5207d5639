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
// wrong-kind value, each with its line, column and field path, so users
// see all problems at once and in their own terms rather than yaml's first
// type error (a caller decodes only a clean node, or decodes leniently).
func checkNode(file string, n *yaml.Node, t reflect.Type, path string, probs *Problems) {
	(&nodeChecker{file: file, probs: probs}).check(n, t, path)
}

// nodeChecker is checkNode's walk. When bad is set it also remembers each
// node a problem is about, and broken its field path, so that a lenient
// decode can leave those values out and later checks can tell which
// fields they cannot trust.
type nodeChecker struct {
	file   string
	probs  *Problems
	bad    map[*yaml.Node]bool
	broken brokenFields
}

func (c *nodeChecker) report(bad *yaml.Node, p Problem) {
	*c.probs = append(*c.probs, p)
	if c.bad != nil {
		c.bad[bad] = true
		c.broken[p.Field] = true
	}
}

func (c *nodeChecker) check(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		n = n.Content[0]
	}
	written := n // an alias is left out where it is used, not where it points
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
		c.report(written, Problem{File: c.file, Line: n.Line, Col: n.Column, Field: path, Msg: msg, Hint: hint})
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
	if n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct && reflect.PointerTo(t).Implements(shorthandType) {
		// A scalar shorthand of a struct (agent.otlp: true): its mapping
		// form is checked key by key like any struct.
		c.checkStruct(n, yamlFields(t), path)
		return
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		// Types with their own YAML decoding report their own errors.
		v := reflect.New(t)
		if err := n.Decode(v.Interface()); err != nil {
			c.report(written, problemFromDecode(c.file, n, path, err))
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			add(fmt.Sprintf("expected a mapping, got a %s", kindName(n)), "")
			return
		}
		c.checkStruct(n, yamlFields(t), path)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			add(fmt.Sprintf("expected a mapping, got a %s", kindName(n)), "")
			return
		}
		c.eachKey(n, path, func(k, v *yaml.Node, kp string) { c.check(v, t.Elem(), kp) })
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			add(fmt.Sprintf("expected a list, got a %s", kindName(n)), "")
			return
		}
		for i, e := range n.Content {
			c.check(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Interface:
		if _, err := jsonValueOf(n); err != nil {
			c.report(written, problemFromDecode(c.file, n, path, err))
		}
	default:
		if msg, hint := scalarMismatch(n, t.Kind()); msg != "" {
			add(msg, hint)
		}
	}
}

// scalarMismatch says why n cannot be decoded into a scalar of kind k, or
// returns "" when it can (or k is not a scalar kind).
func scalarMismatch(n *yaml.Node, k reflect.Kind) (msg, hint string) {
	tag := n.ShortTag()
	if n.Kind != yaml.ScalarNode {
		tag = ""
	}
	switch k {
	case reflect.String:
		if tag != "!!str" && tag != "!!timestamp" && tag != "!!binary" {
			return fmt.Sprintf("expected a string, got %s", describe(n)), "quote it if it is meant as text"
		}
	case reflect.Bool:
		if tag != "!!bool" {
			return fmt.Sprintf("expected true or false, got %s", describe(n)), ""
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		if tag != "!!int" {
			return fmt.Sprintf("expected a whole number, got %s", describe(n)), ""
		}
	case reflect.Float64:
		if tag != "!!int" && tag != "!!float" {
			return fmt.Sprintf("expected a number, got %s", describe(n)), ""
		}
	}
	return "", ""
}

// eachKey calls fn with every key of a mapping once, reporting the later
// copies of a duplicate key.
func (c *nodeChecker) eachKey(n *yaml.Node, path string, fn func(k, v *yaml.Node, kp string)) {
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		kp := joinPath(path, k.Value)
		if seen[k.Value] {
			c.report(k, Problem{File: c.file, Line: k.Line, Col: k.Column, Field: kp, Msg: "duplicate key"})
			continue
		}
		seen[k.Value] = true
		fn(k, v, kp)
	}
}

func (c *nodeChecker) checkStruct(n *yaml.Node, fields *fieldSet, path string) {
	c.eachKey(n, path, func(k, v *yaml.Node, kp string) {
		if f, ok := fields.byName[k.Value]; ok {
			c.check(v, f.Type, kp)
			return
		}
		hint := "valid keys: " + strings.Join(fields.names, ", ")
		meant := Suggest(k.Value, fields.names)
		if meant != "" {
			hint = fmt.Sprintf("did you mean %q?", meant)
		}
		c.report(k, Problem{File: c.file, Line: k.Line, Col: k.Column, Field: kp, Msg: "unknown key", Hint: hint})
		if meant != "" && c.broken != nil && !hasKey(n, meant) {
			// The value was most likely meant for that key: its absence
			// is this problem, not another one.
			c.broken[joinPath(path, meant)] = true
		}
	})
}

func hasKey(mapping *yaml.Node, key string) bool {
	for i := 0; i+1 < len(mapping.Content); i += 2 {
		if mapping.Content[i].Value == key {
			return true
		}
	}
	return false
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
	shorthandType   = reflect.TypeFor[interface{ yamlShorthand() }]()
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

// decodeLenient checks n against out's type (checkNode) and reports every
// problem found, then decodes the document anyway with each value a
// problem is about left out (as if unset), so the loader's checks of what
// the values mean still see everything else: one pass finds every
// problem. broken names the fields left out.
func decodeLenient(file string, n *yaml.Node, out any, path string) (Problems, brokenFields) {
	var probs Problems
	c := &nodeChecker{file: file, probs: &probs, bad: map[*yaml.Node]bool{}, broken: brokenFields{}}
	c.check(n, reflect.TypeOf(out), path)
	if len(probs) > 0 {
		n = (&pruner{bad: c.bad, done: map[*yaml.Node]*yaml.Node{}}).copy(n)
	}
	if err := n.Decode(out); err != nil {
		// Not expected once the walk is clean; if it happens nothing
		// decoded can be trusted.
		probs = append(probs, problemFromDecode(file, n, path, err))
		c.broken[path] = true
	}
	return probs, c.broken
}

// pruner copies a node tree without the nodes in bad: a bad mapping key
// drops its entry, any other bad node becomes null, so list indexes (and
// the field paths built from them) stay as written.
type pruner struct {
	bad  map[*yaml.Node]bool
	done map[*yaml.Node]*yaml.Node // copies made, so aliases (and cycles) map to one copy
}

func (p *pruner) copy(n *yaml.Node) *yaml.Node {
	if c, ok := p.done[n]; ok {
		return c
	}
	c := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
	p.done[n] = c
	if p.bad[n] {
		return c
	}
	*c = *n
	if n.Alias != nil {
		c.Alias = p.copy(n.Alias)
	}
	c.Content = make([]*yaml.Node, 0, len(n.Content))
	for i := 0; i < len(n.Content); i++ {
		if n.Kind == yaml.MappingNode && p.bad[n.Content[i]] && i%2 == 0 {
			i++ // the key's value goes with it
			continue
		}
		c.Content = append(c.Content, p.copy(n.Content[i]))
	}
	return c
}

// brokenFields are the field paths a lenient decode left out. A check of a
// field at or inside one of them would only repeat that problem in other
// words, so checks ask before they speak.
type brokenFields map[string]bool

// at reports whether field, or a field holding it, was left out.
func (b brokenFields) at(field string) bool {
	for f := field; ; f = f[:max(strings.LastIndexAny(f, ".["), 0)] {
		if b[f] {
			return true
		}
		if f == "" {
			return false
		}
	}
}

// under reports whether field or anything inside it was left out: the
// decoded block is incomplete.
func (b brokenFields) under(field string) bool {
	for f := range b {
		if field == "" {
			return true
		}
		if f == field || strings.HasPrefix(f, field+".") || strings.HasPrefix(f, field+"[") {
			return true
		}
	}
	return false
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
