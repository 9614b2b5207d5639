package repo

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/goccy/go-json"
	"gopkg.in/yaml.v3"
)

// The error-analysis handshake: `analyze pull` writes an
// AnalysisBundle for an external coding agent, the agent answers with an
// AnalysisResult, and `analyze push` checks it whole and records it.

// BundleSchemaVersion is the version of the AnalysisBundle format.
const BundleSchemaVersion = "1"

// AnalysisBundle is the bundle.json `analyze pull` writes: the traces to
// analyse and the live taxonomy to classify them into.
type AnalysisBundle struct {
	SchemaVersion string        `json:"schema_version"`
	Experiment    string        `json:"experiment"`
	RunID         string        `json:"run_id"`
	Iteration     *int          `json:"iteration"`
	Scope         string        `json:"scope"` // failed or all
	Taxonomy      []BundleMode  `json:"taxonomy"`
	Traces        []BundleTrace `json:"traces"`
	// Sample is set when the scope selected more traces than the bundle
	// holds: what was left out, by failure mode.
	Sample       *BundleSample `json:"sample,omitempty"`
	Instructions string        `json:"instructions"`
}

// BundleSample says a bundle holds a deterministic sample of the traces
// its scope selected: at most Limit, shared evenly among the groups (a
// failure mode, "error:<kind>", "unclassified" or "pass").
type BundleSample struct {
	Limit    int           `json:"limit"`
	Selected int           `json:"selected"` // traces the scope selected
	Groups   []SampleGroup `json:"groups"`
}

// SampleGroup is one group's traces in the run and in the bundle.
type SampleGroup struct {
	Group    string `json:"group"`
	Traces   int    `json:"traces"`
	InBundle int    `json:"in_bundle"`
}

// BundleMode is a non-retired taxonomy mode as the bundle shows it.
type BundleMode struct {
	ID         string `json:"id"`
	Slug       string `json:"slug"`
	Title      string `json:"title"`
	Definition string `json:"definition"`
	Status     string `json:"status"`
}

// BundleTrace is one trace to analyse: what the case asked, what the agent
// did, how it was graded and where it first went wrong.
type BundleTrace struct {
	TraceID          string          `json:"trace_id"`
	CaseID           string          `json:"case_id"`
	CaseName         string          `json:"case_name"`
	Iteration        int             `json:"iteration"`
	Repetition       int             `json:"repetition"`
	Input            json.RawMessage `json:"input"`
	Output           string          `json:"output"`
	StructuredOutput json.RawMessage `json:"structured_output,omitempty"`
	ToolCalls        []ToolCall      `json:"tool_calls"`
	Grade            BundleGrade     `json:"grade"`
	FirstError       *FirstError     `json:"first_error"`
}

// BundleGrade is a trace's combined grade.
type BundleGrade struct {
	Label        Label    `json:"label"`
	Score        float64  `json:"score"`
	FailureModes []string `json:"failure_modes"`
	Reasons      []string `json:"reasons"`
}

// FirstError is the first thing that failed inside a trace: the agent call
// itself, a tool call, or a span with an error status.
type FirstError struct {
	Source string `json:"source"` // agent, tool_call, span
	Name   string `json:"name,omitempty"`
	Error  string `json:"error"`
}

// AnalysisResult is what a coding agent hands back: trace assignments to
// failure modes, proposed new modes and hypotheses.
type AnalysisResult struct {
	SchemaVersion string `yaml:"schema_version" json:"schema_version,omitempty"`
	// Experiment is optional: push finds it from the traces when unset.
	Experiment    string           `yaml:"experiment" json:"experiment,omitempty"`
	Assignments   []Assignment     `yaml:"assignments" json:"assignments"`
	ProposedModes []ProposedMode   `yaml:"proposed_modes" json:"proposed_modes"`
	Hypotheses    []HypothesisSpec `yaml:"hypotheses" json:"hypotheses"`

	path string
	node *yaml.Node
}

// Assignment classifies one trace into an existing mode (mode_id) or into
// a mode the result proposes (new_mode_slug), never both.
type Assignment struct {
	TraceID     string   `yaml:"trace_id" json:"trace_id"`
	ModeID      string   `yaml:"mode_id" json:"mode_id,omitempty"`
	NewModeSlug string   `yaml:"new_mode_slug" json:"new_mode_slug,omitempty"`
	OpenNote    string   `yaml:"open_note" json:"open_note,omitempty"`
	Quote       string   `yaml:"quote" json:"quote,omitempty"`
	Confidence  *float64 `yaml:"confidence" json:"confidence,omitempty"`
}

// ProposedMode is a new mode the analysis found.
type ProposedMode struct {
	Slug       string `yaml:"slug" json:"slug"`
	Title      string `yaml:"title" json:"title"`
	Definition string `yaml:"definition" json:"definition"`
	ParentSlug string `yaml:"parent_slug" json:"parent_slug,omitempty"`
}

// HypothesisSpec is a guess at what would fix a mode, with the parameters
// to try.
type HypothesisSpec struct {
	TargetsModeSlug     string         `yaml:"targets_mode_slug" json:"targets_mode_slug"`
	Statement           string         `yaml:"statement" json:"statement"`
	SuggestedParameters map[string]any `yaml:"suggested_parameters" json:"suggested_parameters,omitempty"`
}

// DecodeFileStrict decodes a YAML or JSON document into out, reporting
// every unknown key (with the nearest valid one), duplicate key and
// wrong-kind value as file:line:col problems. JSON is read as YAML, so the
// same positions and messages apply to both.
func DecodeFileStrict(path string, data []byte, out any) (*yaml.Node, error) {
	node, probs, _, err := decodeFileLenient(path, data, out)
	if err != nil {
		return nil, err
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return node, nil
}

// decodeFileLenient is DecodeFileStrict that decodes a document with
// problems too, leaving out the values they are about (see
// decodeLenient). err is set when the file is not YAML or JSON at all.
func decodeFileLenient(path string, data []byte, out any) (*yaml.Node, Problems, brokenFields, error) {
	if probs := CheckUTF8(path, data); probs != nil {
		return nil, nil, nil, probs
	}
	if t := bytes.TrimSpace(data); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		if err := checkJSONSyntax(path, data); err != nil {
			return nil, nil, nil, err
		}
		data = yamlSafeJSON(data)
	}
	node, err := parseYAML(path, data)
	if err != nil {
		return nil, nil, nil, err
	}
	probs, broken := decodeLenient(path, node, out, "")
	return node, probs, broken, nil
}

// yamlSafeJSON rewrites valid JSON so that YAML reads the same values:
// tabs outside strings (insignificant in JSON, not allowed as YAML
// indentation) become spaces, and the escapes YAML lacks — \/ and UTF-16
// surrogate pairs — become their characters.
func yamlSafeJSON(data []byte) []byte {
	out := make([]byte, 0, len(data))
	inString := false
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case !inString && c == '\t':
			out = append(out, ' ')
		case !inString:
			if c == '"' {
				inString = true
			}
			out = append(out, c)
		case c == '"':
			inString = false
			out = append(out, c)
		case c == '\\' && i+1 < len(data):
			switch next := data[i+1]; {
			case next == '/':
				out = append(out, '/')
				i++
			case next == 'u' && i+12 <= len(data) && data[i+6] == '\\' && data[i+7] == 'u':
				hi, err1 := strconv.ParseUint(string(data[i+2:i+6]), 16, 16)
				lo, err2 := strconv.ParseUint(string(data[i+8:i+12]), 16, 16)
				if err1 == nil && err2 == nil && utf16.IsSurrogate(rune(hi)) {
					if r := utf16.DecodeRune(rune(hi), rune(lo)); r != utf8.RuneError {
						out = utf8.AppendRune(out, r)
						i += 11
						continue
					}
				}
				out = append(out, c, next)
				i++
			default:
				out = append(out, c, next)
				i++
			}
		default:
			out = append(out, c)
		}
	}
	return out
}

// checkJSONSyntax reports a JSON syntax error at its line and column.
func checkJSONSyntax(path string, data []byte) error {
	var v any
	err := DecodeJSON(data, &v)
	if err == nil {
		return nil
	}
	p := Problem{File: path, Msg: "invalid JSON: " + err.Error()}
	var off int64 = -1
	switch e := err.(type) {
	case *json.SyntaxError:
		off = e.Offset
	case *json.UnmarshalTypeError:
		off = e.Offset
	}
	if off >= 0 {
		if off > int64(len(data)) {
			off = int64(len(data))
		}
		before := data[:off]
		p.Line = bytes.Count(before, []byte("\n")) + 1
		p.Col = int(off) - (bytes.LastIndexByte(before, '\n') + 1)
		if p.Col < 1 {
			p.Col = 1
		}
	}
	return Problems{p}
}

// LoadAnalysisResult reads an AnalysisResult file strictly. Shape problems
// (unknown keys, wrong types, an assignment that sets both or neither of
// mode_id and new_mode_slug, bad slugs, confidence outside 0..1) are all
// reported at once, each with its position and JSON path.
func LoadAnalysisResult(path string) (*AnalysisResult, error) {
	r, probs, _, err := readAnalysisResult(path, nil)
	if err != nil {
		return nil, err
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return r, nil
}

// readAnalysisResult reads an AnalysisResult file (or, when data is not
// nil, data, named path) and checks its shape. A
// result with problems is returned too, each value a problem is about left
// out, so later checks can go on; bad are the fields with a problem. err
// is set when the file cannot be read as YAML or JSON at all.
func readAnalysisResult(path string, data []byte) (r *AnalysisResult, probs Problems, bad brokenFields, err error) {
	if data == nil {
		if data, err = os.ReadFile(path); err != nil {
			if os.IsNotExist(err) {
				return nil, nil, nil, Userf("analysis result not found: %s", path)
			}
			return nil, nil, nil, err
		}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil, nil, &UserError{Msg: fmt.Sprintf("%s is empty", path), Hint: "analyze push expects an AnalysisResult JSON file (selfevals skills show error-analysis)"}
	}
	r = &AnalysisResult{path: path}
	r.node, probs, bad, err = decodeFileLenient(path, data, r)
	if err != nil {
		return nil, nil, nil, err
	}
	probs = append(probs, r.checkShape(bad)...)
	for _, p := range probs {
		bad[p.Field] = true
	}
	probs.SortByLine()
	return r, probs, bad, nil
}

func (r *AnalysisResult) problem(field, msg, hint string) Problem {
	return at(r.path, r.node, field, msg, hint)
}

// checkShape checks what the result says on its own. A field the strict
// decode reported (in broken) was left out: checking the empty value in
// its place would repeat that problem.
func (r *AnalysisResult) checkShape(broken brokenFields) Problems {
	var probs Problems
	add := func(field, msg, hint string) {
		if !broken.at(field) {
			probs = append(probs, r.problem(field, msg, hint))
		}
	}
	if r.SchemaVersion != "" && r.SchemaVersion != "1" && r.SchemaVersion != "1.0.0" {
		add("schema_version", fmt.Sprintf("unsupported schema_version %q", r.SchemaVersion), `this selfevals reads "1"`)
	}
	if r.Experiment != "" && !slugPattern().MatchString(r.Experiment) {
		add("experiment", fmt.Sprintf("%q is not an experiment slug", r.Experiment), "")
	}
	for i, a := range r.Assignments {
		f := fmt.Sprintf("assignments[%d]", i)
		if a.TraceID == "" {
			add(f+".trace_id", "required", "the trace_id from the bundle")
		}
		// Which of the two is set is unknown when one was left out.
		if !broken.at(f+".mode_id") && !broken.at(f+".new_mode_slug") {
			checkModeChoice(a, f, add)
		}
		if a.Confidence != nil && (*a.Confidence < 0 || *a.Confidence > 1) {
			add(f+".confidence", fmt.Sprintf("%v is outside 0..1", *a.Confidence), "")
		}
	}
	checkProposedModes(r.ProposedModes, add)
	for i, h := range r.Hypotheses {
		f := fmt.Sprintf("hypotheses[%d]", i)
		if h.TargetsModeSlug == "" {
			add(f+".targets_mode_slug", "required", "")
		}
		if strings.TrimSpace(h.Statement) == "" {
			add(f+".statement", "required", "")
		}
	}
	return probs
}

// checkProposedModes checks that proposed modes have unique valid slugs,
// a title and a definition.
func checkProposedModes(modes []ProposedMode, add func(field, msg, hint string)) {
	seen := map[string]int{}
	for i, p := range modes {
		f := fmt.Sprintf("proposed_modes[%d]", i)
		if !ValidModeSlug(p.Slug) {
			add(f+".slug", fmt.Sprintf("%q is not a valid slug", p.Slug), "lower-case letters, digits and _ (no hyphens), at most 63 characters")
		}
		if j, dup := seen[p.Slug]; dup {
			add(f+".slug", fmt.Sprintf("slug %q is proposed twice (also proposed_modes[%d])", p.Slug, j), "")
		}
		seen[p.Slug] = i
		if strings.TrimSpace(p.Title) == "" {
			add(f+".title", "required", "")
		}
		if strings.TrimSpace(p.Definition) == "" {
			add(f+".definition", "required", "one sentence a reviewer can apply to a new trace")
		}
	}
}

// checkModeChoice checks that an assignment sets exactly one of mode_id
// and new_mode_slug, and that it is well formed.
func checkModeChoice(a Assignment, f string, add func(field, msg, hint string)) {
	const oneHint = "set exactly one: mode_id to classify into an existing mode, new_mode_slug to use a mode this result proposes"
	switch {
	case a.ModeID != "" && a.NewModeSlug != "":
		add(f, "sets both mode_id and new_mode_slug", oneHint)
	case a.ModeID == "" && a.NewModeSlug == "":
		add(f, "sets neither mode_id nor new_mode_slug", oneHint)
	case a.ModeID != "" && !ValidModeSlug(ModeSlug(a.ModeID)):
		add(f+".mode_id", fmt.Sprintf("%q is not a mode ID", a.ModeID), "fm_<slug>, as listed in the bundle's taxonomy")
	case a.NewModeSlug != "" && !ValidModeSlug(a.NewModeSlug):
		add(f+".new_mode_slug", fmt.Sprintf("%q is not a valid slug", a.NewModeSlug), "lower-case letters, digits and _ (no hyphens), at most 63 characters")
	}
}

// TraceIDs lists the distinct trace IDs the assignments name.
func (r *AnalysisResult) TraceIDs() []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range r.Assignments {
		if a.TraceID != "" && !seen[a.TraceID] {
			seen[a.TraceID] = true
			out = append(out, a.TraceID)
		}
	}
	return out
}

// TraceRef is where a trace was recorded.
type TraceRef struct {
	Experiment string
	RunID      string
	CaseID     string
	Iteration  int
	Output     string
}

// AssignmentRecord is one line of analysis/<slug>/assignments.jsonl: a
// trace classified into a mode.
type AssignmentRecord struct {
	TraceID    string   `json:"trace_id"`
	ModeID     string   `json:"mode_id"`
	RunID      string   `json:"run_id"`
	CaseID     string   `json:"case_id"`
	Iteration  int      `json:"iteration"`
	Note       string   `json:"note,omitempty"`
	Quote      string   `json:"quote,omitempty"`
	Confidence *float64 `json:"confidence,omitempty"`
	By         string   `json:"by"`
}

// HypothesisRecord is one line of analysis/<slug>/hypotheses.jsonl.
type HypothesisRecord struct {
	ID                  string         `json:"id"`
	TargetsModeSlug     string         `json:"targets_mode_slug"`
	Statement           string         `json:"statement"`
	SuggestedParameters map[string]any `json:"suggested_parameters,omitempty"`
	By                  string         `json:"by"`
}

// ReadAssignments reads an experiment's assignments; a missing file is
// none.
func ReadAssignments(evalsDir, slug string) ([]AssignmentRecord, error) {
	var out []AssignmentRecord
	err := readJSONL(Dir(evalsDir).Assignments(slug), func(b []byte) error {
		var a AssignmentRecord
		if err := DecodeJSON(b, &a); err != nil {
			return err
		}
		out = append(out, a)
		return nil
	})
	return out, err
}

// ReadHypotheses reads an experiment's recorded hypotheses.
func ReadHypotheses(evalsDir, slug string) ([]HypothesisRecord, error) {
	var out []HypothesisRecord
	err := readJSONL(Dir(evalsDir).Hypotheses(slug), func(b []byte) error {
		var h HypothesisRecord
		if err := DecodeJSON(b, &h); err != nil {
			return err
		}
		out = append(out, h)
		return nil
	})
	return out, err
}

func readJSONL(path string, fn func([]byte) error) error {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	return EachLine(f, func(line []byte, n int, _ int64, _ bool) error {
		if b := bytes.TrimSpace(line); len(b) > 0 {
			if err := fn(b); err != nil {
				return fmt.Errorf("%s:%d: %w", path, n, err)
			}
		}
		return nil
	})
}

// PushRequest is an analysis push as asked for.
type PushRequest struct {
	EvalsDir   string
	ResultPath string
	// Result, when not nil, is the result itself (read from stdin), and
	// ResultPath only names it in messages.
	Result []byte
	// Experiment is the experiment named on the command line; "" lets the
	// result, else the runs that recorded its traces, say.
	Experiment string
	By         string
	// FindTraces looks trace IDs up in the run records of an experiment
	// (of every experiment when slug is "") and says where each was
	// recorded; IDs not found are absent.
	FindTraces func(slug string, ids []string) (map[string]TraceRef, error)
}

// PushOptions are a push's resolved inputs: the experiment the records
// belong to, the recorded traces the assignments name, and who pushes.
type PushOptions struct {
	EvalsDir string
	// Experiment is the slug the assignments and hypotheses belong to.
	Experiment string
	// Traces are the recorded traces the assignments name (unknown ones are
	// errors).
	Traces map[string]TraceRef
	By     string
}

// PushSummary counts what a push did.
type PushSummary struct {
	Assignments    int      // assignments in the result
	NewAssignments int      // lines added to assignments.jsonl
	Created        []string // IDs of new candidate modes
	ReSeen         []string // proposed slugs that already existed
	Hypotheses     int
	NewHypotheses  int
	NewExamples    int
	Changed        []string // files the push writes
}

// PushPlan is everything a push records, worked out and checked whole
// before any file is written. Changed lists the files Apply writes.
type PushPlan struct {
	PushSummary
	tf     *TaxonomyFile
	writes []pendingWrite
}

// pendingWrite is a file's new contents, with the old ones to put back
// should the push fail half way.
type pendingWrite struct {
	path    string
	data    []byte
	old     []byte
	existed bool
}

// PlanPush reads an analysis result, works out its experiment, and checks
// all of it against the run records and the taxonomy; then it computes
// the new contents of every file the push changes. It writes nothing.
// Every problem found is returned at once (Problems), in line order.
func PlanPush(req PushRequest) (*PushPlan, error) {
	r, probs, bad, err := readAnalysisResult(req.ResultPath, req.Result)
	if err != nil {
		return nil, err // not YAML or JSON: there is nothing to check
	}
	slug, traces, more, err := r.pushTarget(req, bad)
	if err != nil {
		return nil, err
	}
	probs = append(probs, more...)
	if traces != nil {
		probs = append(probs, r.checkTraces(traces)...)
	}
	tf, err := OpenTaxonomy(Dir(req.EvalsDir).Taxonomy())
	var taxProbs Problems
	switch {
	case errors.As(err, &taxProbs):
		probs = append(probs, taxProbs...)
	case IsUserError(err):
		probs.SortByLine()
		return nil, errors.Join(probs.Err(), err)
	case err != nil:
		return nil, err
	default:
		probs = append(probs, r.checkModes(&tf.Taxonomy)...)
	}
	if len(probs) > 0 {
		probs.SortByLine()
		return nil, probs
	}
	return r.plan(tf, PushOptions{EvalsDir: req.EvalsDir, Experiment: slug, Traces: traces, By: req.By})
}

// pushTarget works out the experiment the result's records belong to and
// looks up the traces the assignments name. traces is nil when the
// experiment is in doubt: looking them up would call every one unknown.
func (r *AnalysisResult) pushTarget(req PushRequest, bad brokenFields) (slug string, traces map[string]TraceRef, probs Problems, err error) {
	if bad.at("experiment") {
		return "", nil, nil, nil // the result's experiment has a problem of its own
	}
	add := func(msg, hint string) { probs = append(probs, r.problem("experiment", msg, hint)) }
	slug = r.Experiment
	if req.Experiment != "" {
		if slug != "" && slug != req.Experiment {
			add(fmt.Sprintf("--experiment %s contradicts the result's experiment %q", req.Experiment, slug), "")
			return "", nil, probs, nil
		}
		slug = req.Experiment
	}
	if slug != "" {
		if _, err := os.Stat(Dir(req.EvalsDir).Runs(slug)); err != nil {
			add(fmt.Sprintf("experiment %s has no recorded runs under %s", slug, Dir(req.EvalsDir).AllRuns()), "the experiment is the slug of evals/experiments/<slug>.yaml")
			return "", nil, probs, nil
		}
	}
	traces, err = req.FindTraces(slug, r.TraceIDs())
	if err != nil {
		return "", nil, nil, err
	}
	if slug == "" {
		slug, probs = r.experimentOfTraces(traces)
	}
	return slug, traces, probs, nil
}

// experimentOfTraces is the one experiment whose runs recorded the traces.
func (r *AnalysisResult) experimentOfTraces(traces map[string]TraceRef) (string, Problems) {
	exps := map[string]bool{}
	for _, t := range traces {
		exps[t.Experiment] = true
	}
	names := slices.Sorted(maps.Keys(exps))
	switch {
	case len(names) == 1:
		return names[0], nil
	case len(names) > 1:
		return "", Problems{r.problem("experiment", fmt.Sprintf("the traces belong to several experiments (%s)", strings.Join(names, ", ")), "push one result per experiment, or set \"experiment\"")}
	case len(r.Hypotheses) > 0:
		return "", Problems{r.problem("experiment", "cannot tell which experiment the hypotheses are for", "set \"experiment\" in the result or pass --experiment")}
	}
	return "", nil
}

// Check validates the result against the taxonomy and the recorded
// traces; every problem is reported, each with the JSON path it is at.
func (r *AnalysisResult) Check(t *Taxonomy, traces map[string]TraceRef) Problems {
	probs := append(r.checkTraces(traces), r.checkModes(t)...)
	probs.SortByLine()
	return probs
}

// checkTraces reports assignments of traces no run recorded.
func (r *AnalysisResult) checkTraces(traces map[string]TraceRef) Problems {
	var probs Problems
	for i, a := range r.Assignments {
		if _, ok := traces[a.TraceID]; !ok && a.TraceID != "" {
			probs = append(probs, r.problem(fmt.Sprintf("assignments[%d].trace_id", i), fmt.Sprintf("unknown trace %s", a.TraceID), "trace IDs come from the bundle; no run record of this experiment has it"))
		}
	}
	return probs
}

// checkModes reports references to modes that are neither in the taxonomy
// nor proposed by the result, and assignments to retired modes. References
// the shape check rejected are left to it.
func (r *AnalysisResult) checkModes(t *Taxonomy) Problems {
	var probs Problems
	add := func(field, msg, hint string) { probs = append(probs, r.problem(field, msg, hint)) }
	proposed := map[string]bool{}
	for _, p := range r.ProposedModes {
		proposed[p.Slug] = true
	}
	known := func(slug string) bool {
		_, ok := t.Lookup(slug)
		return ok || proposed[slug]
	}
	for i, a := range r.Assignments {
		f := fmt.Sprintf("assignments[%d]", i)
		if a.ModeID != "" && a.NewModeSlug == "" && ValidModeSlug(ModeSlug(a.ModeID)) {
			r.checkModeID(t, proposed, f+".mode_id", a.ModeID, add)
		}
		if a.NewModeSlug != "" && a.ModeID == "" && ValidModeSlug(a.NewModeSlug) && !known(a.NewModeSlug) {
			add(f+".new_mode_slug", fmt.Sprintf("new_mode_slug %q is neither in proposed_modes nor in the taxonomy", a.NewModeSlug), "add it to proposed_modes with a title and definition")
		}
	}
	for i, p := range r.ProposedModes {
		if p.ParentSlug != "" && !known(p.ParentSlug) {
			add(fmt.Sprintf("proposed_modes[%d].parent_slug", i), fmt.Sprintf("unknown parent %q", p.ParentSlug), "")
		}
	}
	for i, h := range r.Hypotheses {
		if h.TargetsModeSlug != "" && !known(ModeSlug(h.TargetsModeSlug)) {
			add(fmt.Sprintf("hypotheses[%d].targets_mode_slug", i), fmt.Sprintf("unknown mode %q", h.TargetsModeSlug), "target a mode of the taxonomy or one this result proposes")
		}
	}
	return probs
}

// checkModeID checks an assignment's mode_id: a live mode of the taxonomy
// (or one merged into another).
func (r *AnalysisResult) checkModeID(t *Taxonomy, proposed map[string]bool, field, id string, add func(field, msg, hint string)) {
	m, ok := t.Lookup(id)
	switch {
	case !ok && proposed[ModeSlug(id)]:
		add(field, fmt.Sprintf("unknown mode_id %q: %s is proposed by this result, not in the taxonomy", id, ModeSlug(id)), "use new_mode_slug for modes this result proposes")
	case !ok:
		var ids []string
		for _, m := range t.Modes {
			if ModeStatus(m) != "retired" {
				ids = append(ids, m.ID())
			}
		}
		hint := "mode IDs come from the bundle's taxonomy; to propose a new mode, add it to proposed_modes and use new_mode_slug"
		if s := Suggest("fm_"+ModeSlug(id), ids); s != "" {
			hint = fmt.Sprintf("did you mean %s?", s)
		}
		add(field, fmt.Sprintf("unknown mode_id %q", id), hint)
	case ModeStatus(*m) == "retired" && m.MergedInto == "":
		add(field, fmt.Sprintf("%s is retired", m.ID()), "classify into a live mode or propose a new one")
	}
}

// plan computes what a checked result records: proposed modes become
// candidates, assignments go to assignments.jsonl and become examples of
// their modes, hypotheses go to hypotheses.jsonl. Nothing already
// recorded is recorded twice, so the same result planned again changes no
// file. It edits tf in memory only.
func (r *AnalysisResult) plan(tf *TaxonomyFile, opts PushOptions) (*PushPlan, error) {
	p := &PushPlan{PushSummary: PushSummary{Assignments: len(r.Assignments), Hypotheses: len(r.Hypotheses)}, tf: tf}
	if opts.Experiment == "" && (len(r.Assignments) > 0 || len(r.Hypotheses) > 0) {
		return nil, Userf("internal error: no experiment for the analysis records")
	}
	r.addCandidates(p, opts)
	recs, err := r.addExamples(p, opts)
	if err != nil {
		return nil, err
	}
	taxBytes, err := tf.Encode()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(taxBytes, tf.raw) {
		p.writes = append(p.writes, pendingWrite{path: tf.Path, data: taxBytes, old: tf.raw, existed: true})
	}
	if err := p.planAssignments(recs, opts); err != nil {
		return nil, err
	}
	if err := p.planHypotheses(r.Hypotheses, opts); err != nil {
		return nil, err
	}
	for _, w := range p.writes {
		p.Changed = append(p.Changed, w.path)
	}
	return p, nil
}

// addCandidates adds the proposed modes to the taxonomy as candidates,
// each first seen at the earliest trace assigned to it.
func (r *AnalysisResult) addCandidates(p *PushPlan, opts PushOptions) {
	firstSeen := map[string]TraceRef{}
	for _, a := range r.Assignments {
		if a.NewModeSlug == "" {
			continue
		}
		ref := opts.Traces[a.TraceID]
		if prev, ok := firstSeen[a.NewModeSlug]; !ok || ref.Iteration < prev.Iteration {
			firstSeen[a.NewModeSlug] = ref
		}
	}
	for _, pm := range r.ProposedModes {
		m := FailureMode{Slug: pm.Slug, Title: strings.TrimSpace(pm.Title), Definition: strings.TrimSpace(pm.Definition), Parent: pm.ParentSlug, ProposedBy: opts.By}
		if ref, ok := firstSeen[pm.Slug]; ok {
			it := ref.Iteration
			m.FirstSeen = &FirstSeenRecord{Experiment: ref.Experiment, Run: ref.RunID, Iteration: &it}
		} else if opts.Experiment != "" {
			m.FirstSeen = &FirstSeenRecord{Experiment: opts.Experiment}
		}
		if p.tf.AddCandidate(m) {
			p.Created = append(p.Created, m.ID())
		} else {
			p.ReSeen = append(p.ReSeen, "fm_"+pm.Slug)
		}
	}
}

// addExamples makes each assigned trace an example of its mode and returns
// the assignment records.
func (r *AnalysisResult) addExamples(p *PushPlan, opts PushOptions) ([]AssignmentRecord, error) {
	var recs []AssignmentRecord
	for _, a := range r.Assignments {
		m, _ := p.tf.Resolve(cmp.Or(a.ModeID, a.NewModeSlug))
		tr := opts.Traces[a.TraceID]
		recs = append(recs, AssignmentRecord{TraceID: a.TraceID, ModeID: m.ID(), RunID: tr.RunID, CaseID: tr.CaseID, Iteration: tr.Iteration,
			Note: a.OpenNote, Quote: a.Quote, Confidence: a.Confidence, By: opts.By})
		added, err := p.tf.AddExample(m.Slug, ModeExample{TraceID: a.TraceID, Quote: a.Quote, Note: a.OpenNote})
		if err != nil {
			return nil, err
		}
		if added {
			p.NewExamples++
		}
	}
	return recs, nil
}

// planAssignments adds the records not yet in assignments.jsonl.
func (p *PushPlan) planAssignments(recs []AssignmentRecord, opts PushOptions) error {
	if len(recs) == 0 {
		return nil
	}
	old, err := ReadAssignments(opts.EvalsDir, opts.Experiment)
	if err != nil {
		return err
	}
	// Keys name the mode an assignment resolves to now, so a mode merged
	// since an earlier push does not record a trace twice.
	key := func(a AssignmentRecord) [2]string {
		if m, ok := p.tf.Resolve(a.ModeID); ok {
			return [2]string{a.TraceID, m.Slug}
		}
		return [2]string{a.TraceID, ModeSlug(a.ModeID)}
	}
	have := map[[2]string]bool{}
	for _, a := range old {
		have[key(a)] = true
	}
	all := old
	for _, a := range recs {
		if k := key(a); !have[k] {
			have[k] = true
			all = append(all, a)
			p.NewAssignments++
		}
	}
	if p.NewAssignments == 0 {
		return nil
	}
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].TraceID != all[j].TraceID {
			return all[i].TraceID < all[j].TraceID
		}
		return all[i].ModeID < all[j].ModeID
	})
	return p.planJSONL(Dir(opts.EvalsDir).Assignments(opts.Experiment), len(all), func(i int) any { return all[i] })
}

// planHypotheses adds the hypotheses not yet in hypotheses.jsonl.
func (p *PushPlan) planHypotheses(hyps []HypothesisSpec, opts PushOptions) error {
	if len(hyps) == 0 {
		return nil
	}
	old, err := ReadHypotheses(opts.EvalsDir, opts.Experiment)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, h := range old {
		have[h.ID] = true
	}
	all := old
	for _, h := range hyps {
		rec := HypothesisRecord{TargetsModeSlug: ModeSlug(h.TargetsModeSlug), Statement: strings.TrimSpace(h.Statement), SuggestedParameters: h.SuggestedParameters, By: opts.By}
		id, err := HashID("hyp", map[string]any{"experiment": opts.Experiment, "targets_mode_slug": rec.TargetsModeSlug, "statement": rec.Statement, "suggested_parameters": rec.SuggestedParameters})
		if err != nil {
			return err
		}
		rec.ID = id
		if !have[id] {
			have[id] = true
			all = append(all, rec)
			p.NewHypotheses++
		}
	}
	if p.NewHypotheses == 0 {
		return nil
	}
	return p.planJSONL(Dir(opts.EvalsDir).Hypotheses(opts.Experiment), len(all), func(i int) any { return all[i] })
}

// planJSONL plans writing n records to path, keeping its current bytes to
// put back.
func (p *PushPlan) planJSONL(path string, n int, rec func(int) any) error {
	data, err := encodeJSONL(n, rec)
	if err != nil {
		return err
	}
	w := pendingWrite{path: path, data: data}
	w.old, err = os.ReadFile(path)
	switch {
	case err == nil:
		w.existed = true
	case !os.IsNotExist(err):
		return err
	}
	p.writes = append(p.writes, w)
	return nil
}

// Apply writes the plan's files. Each file is replaced atomically, and if
// one write fails the files already written get their old contents back,
// so a push is recorded whole or not at all.
func (p *PushPlan) Apply() error {
	for i, w := range p.writes {
		if err := WriteFileAtomic(w.path, w.data, 0o644); err != nil {
			return errors.Join(fmt.Errorf("recording the analysis: %w", err), restore(p.writes[:i]))
		}
	}
	// Later edits of the same TaxonomyFile start from what is on disk now.
	for _, w := range p.writes {
		if w.path == p.tf.Path {
			if node, err := parseYAML(w.path, w.data); err == nil {
				p.tf.node, p.tf.raw = node, w.data
			}
		}
	}
	return nil
}

// restore puts back the old contents of written files, newest first.
func restore(written []pendingWrite) error {
	var errs []error
	for _, w := range slices.Backward(written) {
		var err error
		if w.existed {
			err = WriteFileAtomic(w.path, w.old, 0o644)
		} else {
			err = os.Remove(w.path)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("putting back %s: %w", w.path, err))
		}
	}
	return errors.Join(errs...)
}

// encodeJSONL writes n records as one JSON object a line (keys in struct
// order, no HTML escaping).
func encodeJSONL(n int, rec func(int) any) ([]byte, error) {
	var buf bytes.Buffer
	for i := 0; i < n; i++ {
		b, err := json.MarshalWithOption(rec(i), json.DisableHTMLEscape())
		if err != nil {
			return nil, err
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	return buf.Bytes(), nil
}
