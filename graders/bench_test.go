package graders

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/selfevals/selfevals/repo"
)

// A typical support-agent answer: a few sentences and one tool call.
var benchTrace = repo.Trace{
	Output: "Thanks for reaching out! I looked up order #48213 and can confirm the refund of $42.17 " +
		"was issued to your original payment method today. It usually appears within 3-5 business days. " +
		"If it has not arrived by then, reply here and I will escalate it to billing.",
	ToolCalls: []repo.ToolCall{{Name: "lookup_order"}},
}

func BenchmarkDeterministicGrade(b *testing.B) {
	ctx := context.Background()
	g := NewDeterministic(repo.GraderSpec{})
	b.Run("must_include+regex", func(b *testing.B) {
		c := &repo.Case{Expected: &repo.Expected{MustInclude: []string{"refund", "order #48213"}, Regex: `\$\d+\.\d{2}`}}
		b.ReportAllocs()
		for b.Loop() {
			if g.Grade(ctx, c, &benchTrace).Label != repo.Pass {
				b.Fatal("not a pass")
			}
		}
	})
	b.Run("must_include_failing", func(b *testing.B) {
		c := &repo.Case{Expected: &repo.Expected{MustInclude: []string{"tok48213"}}}
		b.ReportAllocs()
		for b.Loop() {
			if g.Grade(ctx, c, &benchTrace).Label != repo.Fail {
				b.Fatal("not a fail")
			}
		}
	})
	b.Run("all_text_rules_failing", func(b *testing.B) {
		c := &repo.Case{Expected: &repo.Expected{
			MustInclude:    []string{"refund", "apolog"},
			MustNotInclude: []string{"escalate"},
			RequiredTools:  []string{"issue_refund"},
			ForbiddenTools: []string{"lookup_order"},
			Regex:          `ticket #\d+`,
		}}
		b.ReportAllocs()
		for b.Loop() {
			if g.Grade(ctx, c, &benchTrace).Label != repo.Fail {
				b.Fatal("not a fail")
			}
		}
	})
	b.Run("output_schema", func(b *testing.B) {
		c := &repo.Case{Expected: &repo.Expected{OutputSchema: json.RawMessage(`{"type":"object","required":["total","currency"],"properties":{"total":{"type":"number"},"currency":{"enum":["EUR","USD"]}}}`)}}
		tr := &repo.Trace{StructuredOutput: json.RawMessage(`{"total":42.17,"currency":"USD","note":"` + strings.Repeat("x", 100) + `"}`)}
		b.ReportAllocs()
		for b.Loop() {
			if g.Grade(ctx, c, tr).Label != repo.Pass {
				b.Fatal("not a pass")
			}
		}
	})
	b.Run("structured_output", func(b *testing.B) {
		c := &repo.Case{Expected: &repo.Expected{StructuredOutput: json.RawMessage(`{"currency":"USD","total":42.17}`)}}
		tr := &repo.Trace{StructuredOutput: json.RawMessage(`{"total":42.17,"currency":"USD"}`)}
		b.ReportAllocs()
		for b.Loop() {
			if g.Grade(ctx, c, tr).Label != repo.Pass {
				b.Fatal("not a pass")
			}
		}
	})
}
