package repo

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/goccy/go-json"
	"github.com/selfevals/selfevals/internal/jsonschema"
	"gopkg.in/yaml.v3"
)

// The values a case's taxonomy fields may take (those of the Python
// selfevals, so datasets move between the two). Values outside them are
// errors.
var (
	Modalities   = []string{"text", "image", "audio", "voice", "browser_use", "sensor"}
	CaseLevels   = []string{"single_step", "multi_step", "final_response", "step_level", "tool_call", "retrieval", "memory_context", "workflow", "trajectory", "conversation", "system", "agent"}
	SourceTypes  = []string{"handcrafted", "production", "staging", "development", "failure", "synthetic", "adversarial", "human_labeled", "external_benchmark", "simulation", "custom"}
	GroundTruths = []string{"exact_match", "schema_validation", "deterministic_assertion", "reference_answer", "rubric", "pairwise_preference", "outcome_based", "human_judgment", "llm_judge", "hybrid"}
	Runtimes     = []string{"offline", "replay", "simulation", "shadow", "canary", "online", "human_review"}
	DatasetTypes = []string{"smoke", "golden", "regression", "capability", "production_sample", "adversarial_safety", "calibration", "incident_queue"}
	PIIStatuses  = []string{"raw", "detected", "scrubbed", "synthetic", "approved_raw"}
)

// DecodeCaseNode decodes, validates and identifies a case written in YAML
// (an entry of cases_inline).
func DecodeCaseNode(file string, n *yaml.Node, path string) (*Case, Problems) {
	var probs Problems
	checkNode(file, n, caseYAMLType, path, &probs)
	if len(probs) > 0 {
		return nil, probs
	}
	v, err := jsonValueOf(n)
	if err != nil {
		return nil, Problems{problemFromDecode(file, n, path, err)}
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, Problems{{File: file, Line: n.Line, Col: n.Column, Field: path, Msg: "expected a mapping (one case)"}}
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, Problems{{File: file, Line: n.Line, Col: n.Column, Field: path, Msg: err.Error()}}
	}
	var c Case
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, Problems{{File: file, Line: n.Line, Col: n.Column, Field: path, Msg: strings.TrimPrefix(err.Error(), "json: ")}}
	}
	c.Line = n.Line
	probs = finishCase(&c, file, n.Line, func(field string) (int, int) {
		if k, _ := findNode(n, field); k != nil {
			return k.Line, k.Column
		}
		return n.Line, n.Column
	})
	for i := range probs {
		probs[i].Field = joinPath(path, probs[i].Field)
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return &c, nil
}

// finishCase validates a decoded case, canonicalizes its free-form JSON and
// computes its ID. locate maps a field path to a line and column (line 0
// keeps the case's line).
func finishCase(c *Case, file string, line int, locate func(field string) (int, int)) Problems {
	var probs Problems
	add := func(field, msg, hint string) {
		l, col := locate(field)
		if l == 0 {
			l = line
		}
		probs = append(probs, Problem{File: file, Line: l, Col: col, Field: field, Msg: msg, Hint: hint})
	}
	checkEnum := func(field, v string, allowed []string) {
		if v != "" && !slices.Contains(allowed, v) {
			hint := "one of " + strings.Join(allowed, ", ")
			if s := Suggest(v, allowed); s != "" {
				hint = fmt.Sprintf("did you mean %q?", s)
			}
			add(field, fmt.Sprintf("unknown value %q", v), hint)
		}
	}
	checkUnique := func(field string, vs []string) {
		seen := map[string]bool{}
		for _, v := range vs {
			if seen[v] {
				add(field, fmt.Sprintf("%q is listed twice", v), "entries must be unique")
				return
			}
			seen[v] = true
		}
	}

	var err error
	if len(c.Input) == 0 || string(c.Input) == "null" {
		add("input", "missing: every case needs an input", `e.g. {"input": {"text": "..."}}`)
	} else if c.Input, err = CanonicalizeJSON(c.Input); err != nil {
		add("input", err.Error(), "")
	}
	if len(c.Context) > 0 {
		if c.Context, err = CanonicalizeJSON(c.Context); err != nil {
			add("context", err.Error(), "")
		}
	}
	if c.ID != "" && strings.TrimSpace(c.ID) != c.ID {
		add("id", "must not start or end with spaces", "")
	}
	for _, m := range c.Modalities {
		checkEnum("modalities", m, Modalities)
	}
	checkUnique("modalities", c.Modalities)
	checkUnique("graders", c.Graders)
	for k, w := range c.FailureWeights {
		if w < 0 {
			add("failure_weights."+k, fmt.Sprintf("failure weight for %q must be >= 0", k), "")
		}
	}
	if c.ThreadPosition != nil {
		if c.ThreadID == "" {
			add("thread_position", "set without thread_id", "multi-turn cases need both thread_id and thread_position")
		} else if *c.ThreadPosition < 0 {
			add("thread_position", "must be >= 0", "")
		}
	}
	if t := c.Taxonomy; t != nil {
		checkEnum("taxonomy.level", t.Level, CaseLevels)
		checkEnum("taxonomy.runtime", t.Runtime, Runtimes)
		checkEnum("taxonomy.dataset_type", t.DatasetType, DatasetTypes)
		if t.Source != nil {
			checkEnum("taxonomy.source.type", t.Source.Type, SourceTypes)
		}
		if t.GroundTruth != nil {
			for _, m := range t.GroundTruth.Methods {
				checkEnum("taxonomy.ground_truth.methods", m, GroundTruths)
			}
			checkUnique("taxonomy.ground_truth.methods", t.GroundTruth.Methods)
		}
		if f := t.Feature; f != nil {
			checkUnique("taxonomy.feature.secondary", f.Secondary)
			if f.Primary != "" && slices.Contains(f.Secondary, f.Primary) {
				add("taxonomy.feature.secondary", fmt.Sprintf("repeats the primary feature %q", f.Primary), "")
			}
		}
	}
	pii := "raw"
	if m := c.Metadata; m != nil {
		if m.PIIStatus != "" {
			pii = m.PIIStatus
		}
		checkEnum("metadata.pii_status", m.PIIStatus, PIIStatuses)
		if m.ApprovedRawAt != "" {
			if _, err := time.Parse(time.RFC3339, m.ApprovedRawAt); err != nil {
				add("metadata.approved_raw_at", fmt.Sprintf("%q is not an RFC 3339 time with a zone", m.ApprovedRawAt), "e.g. 2026-01-31T12:00:00Z")
			}
		}
	}
	if t := c.Taxonomy; t != nil && t.Source != nil && (t.Source.Type == "production" || t.Source.Type == "staging") && pii == "raw" {
		if c.Metadata == nil || c.Metadata.ApprovedRawBy == "" || c.Metadata.ApprovedRawAt == "" {
			add("metadata", "production/staging source with pii_status=raw requires metadata.approved_raw_by and metadata.approved_raw_at",
				"scrub the case and set pii_status: scrubbed, or record who approved the raw data and when")
		}
	}
	if e := c.Expected; e != nil {
		var overlap []string
		for _, t := range e.RequiredTools {
			if slices.Contains(e.ForbiddenTools, t) {
				overlap = append(overlap, t)
			}
		}
		if len(overlap) > 0 {
			add("expected.forbidden_tools", fmt.Sprintf("required_tools and forbidden_tools must be disjoint; both list %s", strings.Join(overlap, ", ")), "")
		}
		if e.Regex != "" {
			if _, err := regexp.Compile(e.Regex); err != nil {
				add("expected.regex", strings.TrimPrefix(err.Error(), "error parsing regexp: "), "RE2 syntax: no lookarounds or backreferences")
			}
		}
		if len(e.StructuredOutput) > 0 {
			if e.StructuredOutput, err = CanonicalizeJSON(e.StructuredOutput); err != nil {
				add("expected.structured_output", err.Error(), "")
			}
		}
		if len(e.OutputSchema) > 0 {
			if e.OutputSchema, err = CanonicalizeJSON(e.OutputSchema); err != nil {
				add("expected.output_schema", err.Error(), "")
			} else if err := CheckSchema(e.OutputSchema); err != nil {
				add("expected.output_schema", err.Error(), "a JSON Schema (2020-12) object")
			}
		}
	}
	if len(probs) > 0 {
		return probs
	}
	if c.ID == "" {
		c.ID = CaseID(c)
	} else {
		c.explicitID = true
	}
	return nil
}

// CaseID is the content-hash ID of a case: the canonical JSON of everything
// that defines it, without its own id.
func CaseID(c *Case) string {
	tmp := *c
	tmp.ID, tmp.ContentHash = "", ""
	id, err := HashID("case", &tmp)
	if err != nil {
		panic(fmt.Sprintf("case does not encode: %v", err))
	}
	return id
}

// schemaCache holds compiled schemas by their canonical bytes: the same
// schema usually repeats over many cases, and compiling is far slower than
// validating. A schema that does not compile is cached too.
var schemaCache sync.Map // string → compiledSchema

type compiledSchema struct {
	s   *jsonschema.Schema
	err error
}

// CheckSchema reports whether a JSON Schema compiles.
func CheckSchema(schema []byte) error {
	_, err := CompileSchema(schema)
	return err
}

// CompileSchema compiles a JSON Schema document, 2020-12 unless its $schema
// says otherwise, and caches it. References must stay inside the schema:
// the library's default loader would read local files named by a dataset,
// which a shared dataset must not be able to do.
func CompileSchema(schema []byte) (*jsonschema.Schema, error) {
	if v, ok := schemaCache.Load(string(schema)); ok {
		c := v.(compiledSchema)
		return c.s, c.err
	}
	s, err := compileSchema(schema)
	schemaCache.Store(string(schema), compiledSchema{s, err})
	return s, err
}

const schemaURL = "mem:///expected/output_schema.json"

func compileSchema(schema []byte) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(selfContained{})
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, err
	}
	s, err := c.Compile(schemaURL)
	if err != nil {
		return nil, fmt.Errorf("invalid JSON Schema: %s", strings.Join(strings.Fields(err.Error()), " "))
	}
	return s, nil
}

// selfContained refuses every external schema reference.
type selfContained struct{}

func (selfContained) Load(url string) (any, error) {
	return nil, fmt.Errorf("$ref to %s: output schemas must be self-contained", url)
}
