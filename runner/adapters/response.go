package adapters

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-json"
	"github.com/selfevals/selfevals/repo"
)

// excerptLimit bounds the text of a bad answer kept in a CallError, so a
// multi-megabyte mistake does not bloat the trace.
const excerptLimit = 4 << 10

// ParseResponse decodes an agent's answer (SPEC §5) and checks it is the
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
	if err := json.Unmarshal(trimmed, &resp); err != nil {
		return repo.Response{}, invalidJSON(body, decodeErrorMsg(trimmed, err))
	}
	resp.StructuredOutput = dropNull(resp.StructuredOutput)
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
// the protocol's spelling (the decoder reports Go field names).
func decodeErrorMsg(body []byte, err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := jsonFieldNames[te.Field]
		if field == "" {
			field = te.Field
		}
		want := te.Type.Kind().String()
		switch te.Type.Kind() {
		case reflect.Slice:
			want = "array"
			if te.Type == reflect.TypeOf(json.RawMessage(nil)) {
				want = "JSON value"
			}
		case reflect.Struct:
			want = "object"
		case reflect.Int64, reflect.Int, reflect.Float64:
			want = "number"
		}
		return fmt.Sprintf("agent response field %q must be a %s, got %s", field, want, jsonKindAt(body, int(te.Offset)))
	}
	return "agent response is not valid JSON: " + err.Error()
}

// jsonFieldNames maps the Go field names of the response types to their
// JSON names, for error messages.
var jsonFieldNames = func() map[string]string {
	m := map[string]string{}
	for _, t := range []reflect.Type{reflect.TypeOf(repo.Response{}), reflect.TypeOf(repo.ToolCall{}), reflect.TypeOf(repo.Span{}), reflect.TypeOf(repo.Usage{})} {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name != "" {
				m[f.Name] = name
			}
		}
	}
	return m
}()

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
		case c == 't' || c == 'f':
			return "a boolean"
		case c == 'n':
			return "null"
		default:
			return fmt.Sprintf("text starting %q", excerpt(body[off:], 40))
		}
	}
	return "nothing"
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
