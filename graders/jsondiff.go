package graders

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"unicode/utf8"
)

// maxDiffs bounds the differences a structured_output reason lists; a
// wholly wrong answer should not produce a reason longer than the answer.
const maxDiffs = 5

// maxValueLen bounds how much of a value a difference quotes.
const maxValueLen = 60

// decodeJSON decodes one JSON document, keeping numbers exact
// (json.Number) and rejecting trailing data.
func decodeJSON(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("unexpected data after the JSON value")
	}
	return v, nil
}

// diffJSON compares two decoded JSON values as values: object key order
// does not matter and numbers compare by value (1 equals 1.0). It returns
// the differences as "path: what", at most maxDiffs of them plus a count of
// the rest, in a stable order (object keys sorted); none means equal.
func diffJSON(expected, actual any) []string {
	d := differ{}
	d.walk("$", expected, actual)
	if d.total > len(d.diffs) {
		d.diffs = append(d.diffs, fmt.Sprintf("… and %d more", d.total-len(d.diffs)))
	}
	return d.diffs
}

type differ struct {
	diffs []string
	total int
}

func (d *differ) add(path, what string) {
	d.total++
	if len(d.diffs) < maxDiffs {
		d.diffs = append(d.diffs, path+": "+what)
	}
}

func (d *differ) walk(path string, exp, act any) {
	switch e := exp.(type) {
	case map[string]any:
		a, ok := act.(map[string]any)
		if !ok {
			break
		}
		keys := make([]string, 0, len(e)+len(a))
		for k := range e {
			keys = append(keys, k)
		}
		for k := range a {
			if _, dup := e[k]; !dup {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			ev, inExp := e[k]
			av, inAct := a[k]
			p := path + keyPath(k)
			switch {
			case !inAct:
				d.add(p, "missing")
			case !inExp:
				d.add(p, "unexpected "+render(av))
			default:
				d.walk(p, ev, av)
			}
		}
		return
	case []any:
		a, ok := act.([]any)
		if !ok {
			break
		}
		for i := range max(len(e), len(a)) {
			p := path + "[" + strconv.Itoa(i) + "]"
			switch {
			case i >= len(a):
				d.add(p, "missing")
			case i >= len(e):
				d.add(p, "unexpected "+render(a[i]))
			default:
				d.walk(p, e[i], a[i])
			}
		}
		return
	case json.Number:
		if a, ok := act.(json.Number); ok && numbersEqual(e, a) {
			return
		}
	default: // string, bool, nil
		if exp == act {
			return
		}
	}
	d.add(path, "expected "+render(exp)+", got "+render(act))
}

// numbersEqual compares JSON numbers by value. Integers that fit in int64
// compare exactly; anything else compares as float64, the precision every
// JSON consumer reads it with (the same rule as repo's canonical JSON).
func numbersEqual(a, b json.Number) bool {
	if a == b {
		return true
	}
	ai, aErr := strconv.ParseInt(string(a), 10, 64)
	bi, bErr := strconv.ParseInt(string(b), 10, 64)
	if aErr == nil && bErr == nil {
		return ai == bi
	}
	af, aErr := strconv.ParseFloat(string(a), 64)
	bf, bErr := strconv.ParseFloat(string(b), 64)
	if aErr != nil || bErr != nil {
		return false // out of float64 range: only identical text is equal
	}
	return af == bf
}

// keyPath renders an object key as a path step: .name for identifiers,
// ["any key"] otherwise, so the path can be read back unambiguously.
func keyPath(k string) string {
	ident := k != ""
	for i, r := range k {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			ident = false
			break
		}
	}
	if ident {
		return "." + k
	}
	return "[" + strconv.Quote(k) + "]"
}

// render is a value as compact JSON, shortened to maxValueLen characters.
func render(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // show <, > and & as the agent wrote them
	if err := enc.Encode(v); err != nil {
		return fmt.Sprintf("%v", v)
	}
	s := string(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	if utf8.RuneCountInString(s) <= maxValueLen {
		return s
	}
	n := 0
	for i := range s {
		if n == maxValueLen-1 {
			return s[:i] + "…"
		}
		n++
	}
	return s
}
