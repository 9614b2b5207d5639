package reports

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"sort"
	"strings"

	"github.com/selfevals/selfevals/repo"
)

// HTML renders a run as one self-contained page: inline CSS, an inline SVG
// chart of the primary metric by iteration, the iterations and their
// decisions, the metrics of iteration 0 and of the best iteration, and
// every case of iteration 0 (the adopted configuration, as committed in
// results/<slug>/cases.jsonl) with its grades and the start of its output.
// Nothing is fetched from the network, so the file can be attached to a CI
// run or opened offline.
func HTML(rs *repo.RunSummary, runDir string) ([]byte, error) {
	cases, err := iterationCases(rs, runDir, 0)
	if err != nil {
		return nil, err
	}
	v := htmlView{RS: rs, Chart: primaryChart(rs)}
	for _, c := range cases {
		hc := htmlCase{ID: c.ID, Name: c.Name, Label: string(c.Label), Score: num(c.Score), Reason: c.reason(), Output: c.Output, Error: c.Error}
		if c.Label == repo.Pass {
			hc.Reason = ""
			v.Passed++
		}
		if c.Repetitions > 1 {
			hc.Reps = fmt.Sprintf("%d/%d", c.Passes, c.Repetitions)
		}
		for _, g := range c.Grades {
			hc.Grades = append(hc.Grades, htmlGrade{Grader: g.Grader, Label: string(g.Label), Reason: g.Reason, Modes: strings.Join(g.FailureModes, ", ")})
		}
		hc.Output = ellipsize(hc.Output, 2000, 2000)
		v.Cases = append(v.Cases, hc)
	}
	// Failing cases first: they are what a reader opens the page for.
	sort.SliceStable(v.Cases, func(i, j int) bool {
		return (v.Cases[i].Label == "pass") != (v.Cases[j].Label == "pass") && v.Cases[j].Label == "pass"
	})
	for _, it := range rs.Iterations {
		row := htmlIteration{Index: it.Index, ID: it.ID, Primary: primaryCell(it, rs.Target.Name), Outcome: glyph(it.Decision.Outcome), Rationale: it.Decision.Rationale, Hypothesis: it.Hypothesis}
		if ev := it.Decision.Evidence; ev != nil {
			row.Delta = signed(ev.Delta)
		}
		row.Best = rs.Best != nil && *rs.Best == it.Index
		v.Iterations = append(v.Iterations, row)
	}
	if len(rs.Iterations) > 0 {
		first := rs.Iterations[0]
		var best *repo.IterationSummary
		if rs.Best != nil {
			best = rs.Iterations[indexOf(rs, *rs.Best)]
		}
		v.BestIndex = -1
		if best != nil && best.Index != first.Index {
			v.BestIndex = best.Index
		}
		for _, name := range metricOrder(first.Metrics) {
			m := htmlMetric{Name: name, First: metricValue(first.Metrics[name]), FirstCI: interval(first.Metrics[name])}
			if v.BestIndex >= 0 {
				m.Best, m.BestCI = metricValue(best.Metrics[name]), interval(best.Metrics[name])
			}
			v.Metrics = append(v.Metrics, m)
		}
	}
	var b bytes.Buffer
	if err := htmlPage.Execute(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

type htmlView struct {
	RS         *repo.RunSummary
	Chart      template.HTML
	Iterations []htmlIteration
	Metrics    []htmlMetric
	BestIndex  int
	Cases      []htmlCase
	Passed     int
}

type htmlIteration struct {
	Index                                              int
	ID, Primary, Delta, Outcome, Rationale, Hypothesis string
	Best                                               bool
}

type htmlMetric struct{ Name, First, FirstCI, Best, BestCI string }

type htmlCase struct {
	ID, Name, Label, Score, Reps, Reason, Output, Error string
	Grades                                              []htmlGrade
}

type htmlGrade struct{ Grader, Label, Reason, Modes string }

// primaryChart draws the primary metric of each iteration as bars, with
// the target as a dashed line: plain SVG, no script.
func primaryChart(rs *repo.RunSummary) template.HTML {
	type point struct {
		index int
		value float64
		ok    bool
	}
	var pts []point
	hi := 0.0
	for _, it := range rs.Iterations {
		v, ok := it.Metric(rs.Target.Name)
		pts = append(pts, point{it.Index, v, ok})
		if ok && !math.IsNaN(v) {
			hi = math.Max(hi, v)
		}
	}
	if len(pts) == 0 {
		return ""
	}
	hi = math.Max(hi, rs.Target.Value)
	if hi <= 1 {
		hi = 1
	} else {
		hi *= 1.1
	}
	const w, h, left, bottom, top = 640.0, 220.0, 48.0, 28.0, 12.0
	plotW, plotH := w-left-8, h-bottom-top
	y := func(v float64) float64 { return top + plotH*(1-v/hi) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-label="%s by iteration" xmlns="http://www.w3.org/2000/svg">`, w, h, template.HTMLEscapeString(rs.Target.Name))
	for _, t := range []float64{0, 0.25, 0.5, 0.75, 1} {
		v := t * hi
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" class="grid"/><text x="%.1f" y="%.1f" class="axis" text-anchor="end">%s</text>`, left, w-8, y(v), y(v), left-6, y(v)+4, num(v))
	}
	slot := plotW / float64(len(pts))
	barW := math.Min(48, slot*0.7)
	for i, p := range pts {
		x := left + slot*float64(i) + (slot-barW)/2
		cls := "bar"
		if rs.Best != nil && *rs.Best == p.index {
			cls = "bar best"
		}
		if p.ok {
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" class="%s"><title>iteration %d: %s</title></rect>`, x, y(p.value), barW, top+plotH-y(p.value), cls, p.index, num(p.value))
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" class="value" text-anchor="middle">%s</text>`, x+barW/2, y(p.value)-4, num(p.value))
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" class="axis" text-anchor="middle">#%d</text>`, x+barW/2, h-10, p.index)
	}
	fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" class="target"><title>target %s</title></line>`, left, w-8, y(rs.Target.Value), y(rs.Target.Value), template.HTMLEscapeString(rs.Target.String()))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

var htmlPage = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>selfevals: {{.RS.Name}} ({{.RS.RunID}})</title>
<style>
:root { --fg: #1f2328; --muted: #59636e; --bg: #ffffff; --panel: #f6f8fa; --border: #d1d9e0; --pass: #1a7f37; --fail: #cf222e; --warn: #9a6700; --accent: #0969da; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --muted: #9198a1; --bg: #0d1117; --panel: #151b23; --border: #3d444d; --pass: #3fb950; --fail: #f85149; --warn: #d29922; --accent: #4493f8; } }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px; font: 14px/1.5 -apple-system, BlinkMacSystemFont, "Segoe UI", Helvetica, Arial, sans-serif; color: var(--fg); background: var(--bg); }
main { max-width: 1100px; margin: 0 auto; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid var(--border); padding-bottom: 4px; }
.goal { color: var(--muted); margin: 0 0 16px; }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 8px; }
.fact { background: var(--panel); border: 1px solid var(--border); border-radius: 6px; padding: 8px 12px; }
.fact b { display: block; font-size: 12px; color: var(--muted); font-weight: 600; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; }
th, td { border: 1px solid var(--border); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: var(--panel); }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.best td { font-weight: 600; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; }
.label { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px; font-weight: 600; color: #fff; }
.label.pass { background: var(--pass); } .label.fail, .label.error { background: var(--fail); } .label.partial, .label.skipped { background: var(--warn); }
pre { white-space: pre-wrap; word-break: break-word; background: var(--panel); border: 1px solid var(--border); border-radius: 6px; padding: 8px; margin: 4px 0; max-height: 240px; overflow: auto; }
details summary { cursor: pointer; color: var(--accent); }
.chart { width: 100%; max-width: 680px; height: auto; }
.chart .grid { stroke: var(--border); stroke-width: 1; } .chart .axis { fill: var(--muted); font-size: 11px; } .chart .value { fill: var(--fg); font-size: 11px; }
.chart .bar { fill: var(--accent); opacity: .55; } .chart .bar.best { opacity: 1; } .chart .target { stroke: var(--fail); stroke-width: 1.5; stroke-dasharray: 6 4; }
.muted { color: var(--muted); }
</style>
</head>
<body>
<main>
<h1>{{.RS.Name}}</h1>
<p class="goal">{{.RS.Goal}}</p>
<div class="facts">
  <div class="fact"><b>target</b><code>{{.RS.Target.String}}</code></div>
  <div class="fact"><b>run</b><code>{{.RS.RunID}}</code> · {{.RS.State}}</div>
  <div class="fact"><b>cases</b>{{.RS.Cases}} · <code>{{.RS.DatasetID}}</code></div>
  <div class="fact"><b>iterations</b>{{len .RS.Iterations}} of {{.RS.MaxIter}} · {{.RS.Terminated}}</div>
  <div class="fact"><b>iteration 0</b>{{.Passed}} of {{len .Cases}} cases pass</div>
  <div class="fact"><b>agent calls</b>{{.RS.Calls}} ({{.RS.CacheHits}} from cache)</div>
</div>
{{if .Chart}}<h2>{{.RS.Target.Name}} by iteration</h2>
{{.Chart}}
<p class="muted">Bars: each iteration's {{.RS.Target.Name}} (the best one solid). Dashed line: the target.</p>{{end}}
{{if .Iterations}}<h2>Iterations</h2>
<table>
<tr><th>#</th><th>{{.RS.Target.Name}}</th><th>Δ vs best</th><th>outcome</th><th>hypothesis and rationale</th></tr>
{{range .Iterations}}<tr{{if .Best}} class="best"{{end}}><td class="num">{{.Index}}{{if .Best}} ★{{end}}</td><td class="num">{{.Primary}}</td><td class="num">{{if .Delta}}{{.Delta}}{{else}}—{{end}}</td><td>{{.Outcome}}</td><td>{{.Hypothesis}}<br><span class="muted">{{.Rationale}}</span></td></tr>
{{end}}</table>{{end}}
{{if .Metrics}}<h2>Metrics</h2>
<table>
<tr><th>metric</th><th>iteration 0</th><th>95% CI</th>{{if ge .BestIndex 0}}<th>best (#{{.BestIndex}})</th><th>95% CI</th>{{end}}</tr>
{{$best := .BestIndex}}{{range .Metrics}}<tr><td><code>{{.Name}}</code></td><td class="num">{{.First}}</td><td class="num">{{.FirstCI}}</td>{{if ge $best 0}}<td class="num">{{.Best}}</td><td class="num">{{.BestCI}}</td>{{end}}</tr>
{{end}}</table>{{end}}
<h2>Cases of iteration 0</h2>
<p class="muted">Iteration 0 runs the adopted configuration: these are the verdicts committed in <code>evals/results/{{.RS.Slug}}/cases.jsonl</code>. Failing cases first.</p>
{{if .Cases}}<table>
<tr><th>case</th><th>label</th><th>score</th><th>reason, grades and output</th></tr>
{{range .Cases}}<tr><td>{{.Name}}<br><code class="muted">{{.ID}}</code></td><td><span class="label {{.Label}}">{{.Label}}</span>{{if .Reps}}<br><span class="muted">{{.Reps}} passed</span>{{end}}</td><td class="num">{{.Score}}</td><td>{{if .Reason}}{{.Reason}}{{end}}
<details><summary>grades and output</summary>
<ul>{{range .Grades}}<li><code>{{.Grader}}</code>: {{.Label}}{{if .Reason}} — {{.Reason}}{{end}}{{if .Modes}} <span class="muted">[{{.Modes}}]</span>{{end}}</li>{{end}}</ul>
{{if .Error}}<pre>{{.Error}}</pre>{{end}}{{if .Output}}<pre>{{.Output}}</pre>{{end}}
</details></td></tr>
{{end}}</table>{{else}}<p>No results recorded for iteration 0.</p>{{end}}
<p class="muted">selfevals report · {{.RS.Slug}} · {{.RS.RunID}}</p>
</main>
</body>
</html>
`))
