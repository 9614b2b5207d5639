package jsonwriter

import (
	"strings"
	"testing"
)

// benchProse is about 1.5 KB of plain text, like an agent's answer.
var benchProse = strings.Repeat("The refund for order #48213 was approved; you'll see $42.17 back on your card within 3-5 business days. ", 15)

// benchEscaped is the same text with something to escape in every sentence.
var benchEscaped = strings.Repeat("The refund for order \"#48213\" was approved;\nyou'll see €42.17 back on your card within 3–5 business days.\u2028\t", 15)

// benchDetails is a judge's details: mostly strings.
var benchDetails = map[string]any{
	"judge_model": "gpt-4o-2024-08-06",
	"rationale":   benchProse[:600],
	"quotes":      []string{benchProse[:120], benchEscaped[:120], "refund approved"},
	"criteria":    map[string]any{"accuracy": 0.75, "tone": "polite", "policy": "followed", "citations": []any{"kb/refunds#3", "kb/cards#1"}},
	"attempts":    2,
	"passed":      true,
}

// benchIndented is a tool result as an agent writes it, across lines;
// benchCompacted is the same already compact.
var benchIndented = []byte(`{
  "order": {
    "id": "48213",
    "status": "refundable",
    "amount": 42.17,
    "currency": "USD",
    "items": [
      {"sku": "A-1", "name": "Wireless mouse", "qty": 1, "price": 19.99},
      {"sku": "B-7", "name": "USB-C cable, 2 m", "qty": 2, "price": 11.09}
    ],
    "notes": "Customer says \"arrived broken\"; photo attached.",
    "flags": [true, false, null],
    "history": [
      {"at": "2025-03-10T08:00:00Z", "event": "ordered"},
      {"at": "2025-03-12T17:30:00Z", "event": "delivered"},
      {"at": "2025-03-13T09:12:44Z", "event": "refund_requested"}
    ]
  }
}`)

var benchCompacted = []byte(`{"order":{"id":"48213","status":"refundable","amount":42.17,"currency":"USD","items":[{"sku":"A-1","name":"Wireless mouse","qty":1,"price":19.99},{"sku":"B-7","name":"USB-C cable, 2 m","qty":2,"price":11.09}],"notes":"Customer says \"arrived broken\"; photo attached.","flags":[true,false,null],"history":[{"at":"2025-03-10T08:00:00Z","event":"ordered"},{"at":"2025-03-12T17:30:00Z","event":"delivered"},{"at":"2025-03-13T09:12:44Z","event":"refund_requested"}]}}`)

func BenchmarkAppendString(b *testing.B) {
	for _, bb := range []struct{ name, s string }{{"plain", benchProse}, {"escaped", benchEscaped}} {
		b.Run(bb.name, func(b *testing.B) {
			var buf []byte
			b.ReportAllocs()
			b.SetBytes(int64(len(bb.s)))
			for b.Loop() {
				buf = AppendString(buf[:0], bb.s)
			}
		})
	}
}

func BenchmarkWriterObject(b *testing.B) {
	var w Writer
	b.ReportAllocs()
	for b.Loop() {
		w = New(w.Bytes()[:0])
		w.Object(benchDetails)
	}
	if w.Err() != nil {
		b.Fatal(w.Err())
	}
	b.SetBytes(int64(len(w.Bytes())))
}

func BenchmarkAppendCompact(b *testing.B) {
	for _, bb := range []struct {
		name string
		raw  []byte
	}{{"indented", benchIndented}, {"compact", benchCompacted}} {
		b.Run(bb.name, func(b *testing.B) {
			var buf []byte
			b.ReportAllocs()
			b.SetBytes(int64(len(bb.raw)))
			for b.Loop() {
				var err error
				if buf, err = AppendCompact(buf[:0], bb.raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
