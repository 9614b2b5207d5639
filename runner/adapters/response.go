package adapters

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-json"
	"github.com/selfevals/selfevals/repo"
)

// excerptLimit bounds the text of a bad answer kept in a CallError, so a
// multi-megabyte mistake does not bloat the trace.
const excerptLimit = 4 << 10

// ParseResponse decodes an agent's answer (repo.Response) and checks it is the
// protocol: a JSON object with at least one of output, structured_output,
// tool_calls or error, each of the right type. Unknown fields are ignored so
// agents may send more than selfevals reads. Any problem is a *CallError of
// kind repo.ErrInvalidJSON whose message names the field and whose Partial
// holds an excerpt of what came.
func ParseResponse(body []byte) (resp repo.Response, err error) {
	// The decoder is third-party and fed by arbitrary agents: a panic in it
	// must be one failed case, not a crashed run.
	defer func() {
		if r := recover(); r != nil {
			resp, err = repo.Response{}, invalidJSON(body, fmt.Sprintf("agent response could not be decoded (%v)", r))
		}
	}()
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return repo.Response{}, invalidJSON(body, "agent answered nothing; expected a JSON object like {\"output\": \"...\"}")
	}
	if trimmed[0] != '{' {
		return repo.Response{}, invalidJSON(body, fmt.Sprintf("agent response must be a JSON object like {\"output\": \"...\"}, got %s", jsonKindAt(trimmed, 0)))
	}
	if err := json.Unmarshal(repo.PadJSON(trimmed), &resp); err != nil { // padded: see repo.DecodeJSON
		return repo.Response{}, invalidJSON(body, decodeErrorMsg(trimmed, err))
	}
	resp.StructuredOutput = dropNull(resp.StructuredOutput)
	resp.SpansDropped = 0 // the run's count, not the agent's
	if resp.CostUSD == 0 && bytes.Contains(trimmed, []byte(`"cost_usd"`)) {
		// A cost of 0 the agent reported is a measurement; tell it from
		// no cost at all (rare path: most answers carry none or a positive one).
		var reported struct {
			Cost *float64 `json:"cost_usd"`
		}
		resp.CostReported = json.Unmarshal(trimmed, &reported) == nil && reported.Cost != nil
	}
	for i := range resp.ToolCalls {
		tc := &resp.ToolCalls[i]
		if tc.Name == "" {
			return repo.Response{}, invalidJSON(body, fmt.Sprintf("agent response field tool_calls[%d]: missing \"name\"", i))
		}
		tc.Arguments = dropNull(tc.Arguments)
		tc.Result = dropNull(tc.Result)
	}
	for i := range resp.Spans {
		resp.Spans[i].Attributes = dropNull(resp.Spans[i].Attributes)
	}
	if err := resp.Check(); err != nil {
		// JSON the decoder skipped over unchecked (embedded objects) or
		// text that is not UTF-8: the record could not hold it.
		return repo.Response{}, invalidJSON(body, "agent response "+err.Error())
	}
	if resp.Output == "" && resp.Error == "" && resp.StructuredOutput == nil && resp.ToolCalls == nil {
		// Rare path: tell an empty answer ("output": "") from a missing one.
		var present struct {
			Output *string `json:"output"`
		}
		if json.Unmarshal(trimmed, &present) != nil || present.Output == nil {
			return repo.Response{}, invalidJSON(body, "agent response has none of output, structured_output, tool_calls or error; answer at least {\"output\": \"...\"} or {\"error\": \"...\"}")
		}
	}
	return resp, nil
}

func invalidJSON(body []byte, msg string) *CallError {
	return &CallError{Kind: repo.ErrInvalidJSON, Msg: msg, Partial: excerpt(body, excerptLimit)}
}

func dropNull(m json.RawMessage) json.RawMessage {
	if string(m) == "null" {
		return nil
	}
	return m
}

// decodeErrorMsg turns a decoder error into a sentence naming the field in
// the protocol's spelling. The decoder's own messages name Go fields, or
// nothing useful, so a body that is valid JSON is checked against the
// protocol's shape to find the culprit.
func decodeErrorMsg(body []byte, err error) string {
	if !json.Valid(body) {
		return "agent response is not valid JSON: " + err.Error()
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) == nil {
		if msg := checkShape("", top, responseShape); msg != "" {
			return "agent response " + msg
		}
	}
	return "agent response does not match the protocol: " + err.Error()
}

// shape is the JSON type a protocol field must have.
type shape struct {
	kind   string // string, number, integer, object, objects (array of objects)
	fields map[string]shape
}

var (
	usageShape    = shape{kind: "object", fields: map[string]shape{"input_tokens": {kind: "integer"}, "output_tokens": {kind: "integer"}}}
	toolCallShape = map[string]shape{"name": {kind: "string"}, "error": {kind: "string"}, "duration_ms": {kind: "number"}}
	spanShape     = map[string]shape{"kind": {kind: "string"}, "name": {kind: "string"}, "start": {kind: "string"}, "duration_ms": {kind: "number"}, "status": {kind: "string"}}
	responseShape = map[string]shape{
		"output": {kind: "string"}, "error": {kind: "string"}, "model": {kind: "string"},
		"cost_usd": {kind: "number"}, "usage": usageShape,
		"tool_calls": {kind: "objects", fields: toolCallShape},
		"spans":      {kind: "objects", fields: spanShape},
	}
)

// checkShape describes the first field of obj whose type is wrong, or
// returns "".
func checkShape(prefix string, obj map[string]json.RawMessage, fields map[string]shape) string {
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names) // the same body always gets the same message
	for _, name := range names {
		raw, ok := obj[name]
		if !ok {
			continue
		}
		if msg := checkValue(prefix+name, bytes.TrimSpace(raw), fields[name]); msg != "" {
			return msg
		}
	}
	return ""
}

func checkValue(path string, raw []byte, sh shape) string {
	if len(raw) == 0 || raw[0] == 'n' {
		return "" // null means absent
	}
	isNumber := raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9')
	bad := func(want string) string {
		return fmt.Sprintf("field %q must be %s, got %s", path, want, jsonKindAt(raw, 0))
	}
	switch sh.kind {
	case "string":
		if raw[0] != '"' {
			return bad("a string")
		}
	case "number":
		if !isNumber {
			return bad("a number")
		}
	case "integer":
		if !isNumber {
			return bad("an integer")
		}
		if bytes.ContainsAny(raw, ".eE") {
			return fmt.Sprintf("field %q must be an integer, got %s", path, raw)
		}
	case "object":
		var obj map[string]json.RawMessage
		if raw[0] != '{' || json.Unmarshal(raw, &obj) != nil {
			return bad("an object")
		}
		return checkShape(path+".", obj, sh.fields)
	case "objects":
		var items []json.RawMessage
		if raw[0] != '[' || json.Unmarshal(raw, &items) != nil {
			return bad("an array")
		}
		for i, item := range items {
			if msg := checkValue(fmt.Sprintf("%s[%d]", path, i), bytes.TrimSpace(item), shape{kind: "object", fields: sh.fields}); msg != "" {
				return msg
			}
		}
	}
	return ""
}

// jsonKindAt names the kind of JSON value starting at body[off].
func jsonKindAt(body []byte, off int) string {
	for off >= 0 && off < len(body) {
		switch c := body[off]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ':':
			off++
			continue
		case c == '"':
			return "a string"
		case c == '{':
			return "an object"
		case c == '[':
			return "an array"
		case c == '-' || (c >= '0' && c <= '9'):
			return "a number"
		case isLiteral(body[off:], "true") || isLiteral(body[off:], "false"):
			return "a boolean"
		case isLiteral(body[off:], "null"):
			return "null"
		default: // plain text, "not json" included
			return fmt.Sprintf("text starting %q", excerpt(body[off:], 40))
		}
	}
	return "nothing"
}

// isLiteral reports whether b starts with the JSON literal lit as a whole
// token (not the first word of some text).
func isLiteral(b []byte, lit string) bool {
	if !bytes.HasPrefix(b, []byte(lit)) {
		return false
	}
	rest := bytes.TrimLeft(b[len(lit):], " \t\r\n")
	return len(rest) == 0 || strings.IndexByte(",]}", rest[0]) >= 0
}

// excerpt returns at most limit bytes of b as valid UTF-8, with a marker
// when it was cut.
func excerpt(b []byte, limit int) string {
	if len(b) <= limit {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	cut := limit
	for cut > 0 && cut > limit-utf8.UTFMax && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return strings.ToValidUTF8(string(b[:cut]), "\uFFFD") + fmt.Sprintf("…[%d more bytes]", len(b)-cut)
}

// firstLine is the first non-empty line of s, shortened for a message.
func firstLine(s string) string {
	for _, line := range strings.Split(s, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			if len(line) > 200 {
				line = excerpt([]byte(line), 200)
			}
			return line
		}
	}
	return ""
}

// CheckResponse applies repo.Response.Check where an answer arrives, from
// any adapter: what the run record could not hold becomes this case's
// invalid_json error, with a UTF-8 excerpt of the output, instead of a
// failed write that ends the run.
func CheckResponse(resp *repo.Response) error {
	if err := resp.Check(); err != nil {
		return &CallError{Kind: repo.ErrInvalidJSON, Msg: "agent response " + err.Error(), Partial: excerpt([]byte(resp.Output), excerptLimit)}
	}
	return nil
}
