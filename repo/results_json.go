package repo

import "github.com/selfevals/selfevals/repo/internal/jsonwriter"

// jsonAppender is the buffer and first error EncodeResults writes
// cases.jsonl into, a verdict at a time. It stays the shape that caller
// builds; a caller written afresh uses jsonwriter.Writer directly.
type jsonAppender struct {
	buf []byte
	err error
}

func (a *jsonAppender) ch(c byte) { a.buf = append(a.buf, c) }

// appendJSON writes v with its struct's field order and omitempty rules:
// the bytes goccy wrote before, as cases.jsonl is committed and a rerun
// must not show as a diff.
func (v *CaseVerdict) appendJSON(a *jsonAppender) {
	w := jsonwriter.New(a.buf)
	w.Literal(`{"case_id":`)
	w.String(v.CaseID)
	w.OptString(`,"name":`, v.Name)
	w.Literal(`,"label":`)
	w.String(string(v.Label))
	w.Literal(`,"score":`)
	w.Float(v.Score)
	w.Literal(`,"pass_rate":`)
	w.Float(v.PassRate)
	w.Literal(`,"repetitions":`)
	w.Int(int64(v.Repetitions))
	if len(v.FailureModes) > 0 {
		w.Literal(`,"failure_modes":`)
		w.Strings(v.FailureModes)
	}
	w.OptString(`,"reason":`, v.Reason)
	w.OptString(`,"definition":`, v.Definition)
	w.Byte('}')
	a.buf = w.Bytes()
	if a.err == nil {
		a.err = w.Err()
	}
}

// AppendCaseVerdict appends v's line of cases.jsonl (newline included), as
// EncodeResults writes it: for a writer that streams the file in case ID
// order.
func AppendCaseVerdict(buf []byte, v *CaseVerdict) ([]byte, error) {
	a := jsonAppender{buf: buf}
	v.appendJSON(&a)
	a.ch('\n')
	return a.buf, a.err
}
