package reports

import (
	"bytes"
	"cmp"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/goccy/go-json"

	"github.com/selfevals/selfevals/repo"
)

// HTML renders a run as one self-contained page (see WriteHTML).
func HTML(rs *repo.RunSummary, runDir string) ([]byte, error) {
	var b bytes.Buffer
	err := WriteHTML(&b, rs, runDir)
	return b.Bytes(), err
}

// How much of iteration 0 a page lists: the first failing cases in full,
// then a compact list of the next ones, paged in the browser; the first
// passing cases. A run of a million cases makes a page of a few megabytes
// that counts and groups everything and lists what a reviewer reads.
const (
	htmlFullRows  = 100    // failing cases shown with grades and output
	htmlListRows  = 20_000 // further failing cases in the paged list
	htmlPassRows  = 100    // passing cases listed
	htmlPageRows  = 100    // rows per page of the paged list
	htmlMaxModes  = 200    // failure modes grouped; the rest count as other
	htmlModeCases = 3      // example cases per failure mode
)

// WriteHTML writes a run as one self-contained page: inline CSS, an inline
// SVG chart of the primary metric by iteration, the iterations and their
// decisions, the metrics of iteration 0 and of the best iteration, and the
// cases of iteration 0 (the adopted configuration, as committed in
// results/<slug>/cases.jsonl): counted by label, the failing ones grouped by
// failure mode, the first failing cases in full with their grades and the
// start of their output, the next ones in a compact list paged by a small
// inline script, and the first passing cases. Nothing is fetched from the
// network, so the file can be attached to a CI run or opened offline.
//
// The cases stream, in case ID order, through a temporary file while
// results.jsonl is read once; the summary, known at the end, is written
// first, so memory stays bounded whatever the run's size.
func WriteHTML(w io.Writer, rs *repo.RunSummary, runDir string) error {
	return writeHTML(w, rs, runDir, caseOptions{})
}

func writeHTML(w io.Writer, rs *repo.RunSummary, runDir string, opts caseOptions) error {
	body, err := newSpool()
	if err != nil {
		return err
	}
	defer body.Close()
	p := &htmlCases{body: body, modes: map[string]*htmlMode{}}
	if err := eachIterationCase(rs, runDir, 0, opts, p.add); err != nil {
		return err
	}
	if err := p.finish(); err != nil {
		return err
	}
	var head, tail bytes.Buffer
	if err := htmlPage().ExecuteTemplate(&head, "head", htmlViewOf(rs, p)); err != nil {
		return err
	}
	if err := htmlPage().ExecuteTemplate(&tail, "tail", p.tailView(rs)); err != nil {
		return err
	}
	return body.CopyTo(w, head.Bytes(), tail.Bytes())
}

// htmlCases takes the cases of iteration 0 as they stream: it counts them,
// writes the failing ones to the body and keeps the first passing ones.
type htmlCases struct {
	body    *spool
	total   int
	labels  map[repo.Label]int
	failing int
	passes  []htmlCase
	modes   map[string]*htmlMode
	other   htmlMode // failing cases past htmlMaxModes modes
}

type htmlMode struct {
	Name     string
	Cases    int
	Examples []string
}

func (p *htmlCases) add(c *caseResult) error {
	p.total++
	if p.labels == nil {
		p.labels = map[repo.Label]int{}
	}
	p.labels[c.Label]++
	if c.Label == repo.Pass {
		if len(p.passes) < htmlPassRows {
			p.passes = append(p.passes, htmlCaseOf(c))
		}
		return nil
	}
	p.failing++
	for _, m := range failureModes(c) {
		p.tally(m, c.ID)
	}
	if p.failing == 1 {
		if err := htmlPage().ExecuteTemplate(p.body, "failStart", nil); err != nil {
			return err
		}
	}
	switch {
	case p.failing <= htmlFullRows:
	case p.failing == htmlFullRows+1:
		return p.startList(c)
	case p.failing <= htmlFullRows+htmlListRows:
		return p.listRow(c, ",")
	default:
		return nil
	}
	return htmlPage().ExecuteTemplate(p.body, "row", htmlCaseOf(c))
}

// startList closes the table of full rows and opens the paged list with
// its first row.
func (p *htmlCases) startList(c *caseResult) error {
	if err := htmlPage().ExecuteTemplate(p.body, "listStart", nil); err != nil {
		return err
	}
	p.body.WriteString(`<script type="application/json" id="more-data">[`)
	return p.listRow(c, "")
}

// listRow writes a case of the paged list as a JSON array: ID, name,
// label, score and reason (JSON escapes <, > and &, so no row can end the
// script element it is in).
func (p *htmlCases) listRow(c *caseResult, sep string) error {
	row, err := json.Marshal([]string{c.ID, c.Name, string(c.Label), num(c.Score), clip(oneLine(c.reason()), 300)})
	if err != nil {
		return err
	}
	p.body.WriteString(sep + "\n")
	_, err = p.body.Write(row)
	return err
}

// finish closes what the stream left open in the body.
func (p *htmlCases) finish() error {
	v := struct {
		Failing, Full, Listed, Unlisted, PageRows int
	}{Failing: p.failing, Full: min(p.failing, htmlFullRows), Listed: min(max(p.failing-htmlFullRows, 0), htmlListRows), PageRows: htmlPageRows}
	v.Unlisted = p.failing - v.Full - v.Listed
	if p.failing == 0 {
		return nil
	}
	if v.Listed > 0 {
		p.body.WriteString("\n]</script>")
	}
	return htmlPage().ExecuteTemplate(p.body, "failEnd", v)
}

// tally counts a failing case under a failure mode, with the first few
// cases as examples.
func (p *htmlCases) tally(mode, id string) {
	m := p.modes[mode]
	if m == nil {
		if len(p.modes) >= htmlMaxModes {
			m = &p.other
		} else {
			m = &htmlMode{Name: mode}
			p.modes[mode] = m
		}
	}
	m.Cases++
	if len(m.Examples) < htmlModeCases {
		m.Examples = append(m.Examples, id)
	}
}

// failureModes are what a failing case is grouped under: the failure modes
// of its failing grades, else the grader that failed it, else its error or
// label.
func failureModes(c *caseResult) []string {
	var out []string
	for _, g := range c.Grades {
		switch {
		case g.Label == repo.Pass || g.Label == repo.Skipped:
		case len(g.FailureModes) > 0:
			out = append(out, g.FailureModes...)
		default:
			out = append(out, g.Grader+" (no failure mode)")
		}
	}
	if len(out) == 0 && c.Error != "" {
		out = append(out, "agent error: "+cmp.Or(c.ErrorKind, "error"))
	}
	if len(out) == 0 {
		out = append(out, string(c.Label))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// sortedModes are the failure modes, the most frequent first.
func (p *htmlCases) sortedModes() []htmlMode {
	out := make([]htmlMode, 0, len(p.modes)+1)
	for _, m := range p.modes {
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b htmlMode) int { return cmp.Or(cmp.Compare(b.Cases, a.Cases), cmp.Compare(a.Name, b.Name)) })
	if p.other.Cases > 0 {
		p.other.Name = "other modes"
		out = append(out, p.other)
	}
	return out
}

func htmlCaseOf(c *caseResult) htmlCase {
	hc := htmlCase{ID: c.ID, Name: c.Name, Label: string(c.Label), Score: num(c.Score), Reason: c.reason(), Output: c.Output, Error: c.Error}
	if c.Label == repo.Pass {
		hc.Reason = ""
	}
	if c.Repetitions > 1 {
		hc.Reps = fmt.Sprintf("%d/%d", c.Passes, c.Repetitions)
	}
	for _, g := range c.Grades {
		hc.Grades = append(hc.Grades, htmlGrade{Grader: g.Grader, Label: string(g.Label), Reason: g.Reason, Modes: strings.Join(g.FailureModes, ", ")})
	}
	hc.Output = ellipsize(hc.Output, 2000, 2000)
	return hc
}

// tailView is what follows the failing cases: the first passing ones.
func (p *htmlCases) tailView(rs *repo.RunSummary) any {
	return struct {
		RS       *repo.RunSummary
		Passes   []htmlCase
		Passed   int
		Unlisted int
		Total    int
	}{rs, p.passes, p.labels[repo.Pass], p.labels[repo.Pass] - len(p.passes), p.total}
}

// htmlViewOf is the head of the page: the run, its iterations and metrics,
// and iteration 0 counted by label and failure mode.
func htmlViewOf(rs *repo.RunSummary, p *htmlCases) htmlView {
	v := htmlView{RS: rs, Chart: primaryChart(rs), Total: p.total, Passed: p.labels[repo.Pass], Failing: p.failing, Modes: p.sortedModes()}
	for _, l := range []repo.Label{repo.Pass, repo.Partial, repo.Fail, repo.Error, repo.Skipped} {
		if n := p.labels[l]; n > 0 {
			v.Labels = append(v.Labels, htmlLabel{Label: string(l), Cases: n})
		}
	}
	for _, it := range rs.Iterations {
		row := htmlIteration{Index: it.Index, ID: it.ID, Primary: primaryCell(it, rs.Target.Name), Outcome: glyph(it.Decision.Outcome), Rationale: it.Decision.Rationale, Hypothesis: it.Hypothesis}
		if ev := it.Decision.Evidence; ev != nil {
			row.Delta = signed(ev.Delta)
		}
		row.Best = rs.Best != nil && *rs.Best == it.Index
		v.Iterations = append(v.Iterations, row)
	}
	v.BestIndex = -1
	if len(rs.Iterations) > 0 {
		v.Metrics, v.BestIndex = htmlMetrics(rs)
	}
	return v
}

// htmlMetrics are the metrics of the first iteration, and of the best when
// it is another (its index, else -1).
func htmlMetrics(rs *repo.RunSummary) ([]htmlMetric, int) {
	first := rs.Iterations[0]
	var best *repo.IterationSummary
	if rs.Best != nil {
		best = rs.Iterations[indexOf(rs, *rs.Best)]
	}
	bestIndex := -1
	if best != nil && best.Index != first.Index {
		bestIndex = best.Index
	}
	var out []htmlMetric
	for _, name := range metricOrder(first.Metrics) {
		m := htmlMetric{Name: name, First: metricValue(first.Metrics[name]), FirstCI: interval(first.Metrics[name])}
		if bestIndex >= 0 {
			m.Best, m.BestCI = metricValue(best.Metrics[name]), interval(best.Metrics[name])
		}
		out = append(out, m)
	}
	return out, bestIndex
}

type htmlView struct {
	RS                     *repo.RunSummary
	Chart                  template.HTML
	Iterations             []htmlIteration
	Metrics                []htmlMetric
	BestIndex              int
	Total, Passed, Failing int
	Labels                 []htmlLabel
	Modes                  []htmlMode
}

type htmlLabel struct {
	Label string
	Cases int
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

// htmlPage is parsed on first use: at init it cost every command.
var htmlPage = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("report").Parse(htmlTemplate))
})

const htmlTemplate = `{{define "head"}}<!DOCTYPE html>
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
  <div class="fact"><b>iteration 0</b>{{.Passed}} of {{.Total}} cases pass</div>
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
<p class="muted">Iteration 0 runs the adopted configuration: these are the verdicts committed in <code>evals/results/{{.RS.Slug}}/cases.jsonl</code>.</p>
{{if .Total}}<div class="facts">
{{range .Labels}}  <div class="fact"><b>{{.Label}}</b>{{.Cases}} cases</div>
{{end}}</div>
{{if .Modes}}<h2>Failing cases by failure mode</h2>
<p class="muted">A case counts under each failure mode its failing grades name (or the grader that failed it, or its error); {{.Failing}} cases did not pass.</p>
<table>
<tr><th>failure mode</th><th>cases</th><th>for example</th></tr>
{{range .Modes}}<tr><td><code>{{.Name}}</code></td><td class="num">{{.Cases}}</td><td>{{range .Examples}}<code class="muted">{{.}}</code> {{end}}</td></tr>
{{end}}</table>{{end}}{{else}}<p>No results recorded for iteration 0.</p>{{end}}
{{end}}

{{define "failStart"}}<h2>Cases that did not pass</h2>
<table>
<tr><th>case</th><th>label</th><th>score</th><th>reason, grades and output</th></tr>
{{end}}

{{define "row"}}<tr><td>{{.Name}}<br><code class="muted">{{.ID}}</code></td><td><span class="label {{.Label}}">{{.Label}}</span>{{if .Reps}}<br><span class="muted">{{.Reps}} passed</span>{{end}}</td><td class="num">{{.Score}}</td><td>{{if .Reason}}{{.Reason}}{{end}}
<details><summary>grades and output</summary>
<ul>{{range .Grades}}<li><code>{{.Grader}}</code>: {{.Label}}{{if .Reason}} — {{.Reason}}{{end}}{{if .Modes}} <span class="muted">[{{.Modes}}]</span>{{end}}</li>{{end}}</ul>
{{if .Error}}<pre>{{.Error}}</pre>{{end}}{{if .Output}}<pre>{{.Output}}</pre>{{end}}
</details></td></tr>
{{end}}

{{define "listStart"}}</table>
<div id="more"><h3>More cases that did not pass</h3>
<p class="muted">Case, label, score and reason; <code>selfevals show</code> and <code>selfevals serve</code> open a case's grades and trace.</p>
<p><input id="more-filter" type="search" placeholder="filter by ID, name, label or reason"> <button id="more-prev" type="button">previous</button> <span id="more-info"></span> <button id="more-next" type="button">next</button></p>
<table>
<thead><tr><th>case</th><th>label</th><th>score</th><th>reason</th></tr></thead>
<tbody id="more-rows"></tbody>
</table></div>
{{end}}

{{define "failEnd"}}{{if gt .Listed 0}}
<script>
(function () {
  var all = JSON.parse(document.getElementById("more-data").textContent), shown = all, page = 0, size = {{.PageRows}};
  var rows = document.getElementById("more-rows"), info = document.getElementById("more-info");
  function cell(tr, text, cls) { var td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; tr.appendChild(td); return td; }
  function draw() {
    var pages = Math.max(1, Math.ceil(shown.length / size));
    page = Math.min(Math.max(page, 0), pages - 1);
    rows.textContent = "";
    shown.slice(page * size, (page + 1) * size).forEach(function (r) {
      var tr = document.createElement("tr"), c = cell(tr, r[1]);
      c.appendChild(document.createElement("br"));
      var id = document.createElement("code"); id.className = "muted"; id.textContent = r[0]; c.appendChild(id);
      var l = document.createElement("span"); l.className = "label " + r[2]; l.textContent = r[2]; cell(tr, "").appendChild(l);
      cell(tr, r[3], "num"); cell(tr, r[4]);
      rows.appendChild(tr);
    });
    info.textContent = "page " + (page + 1) + " of " + pages + " (" + shown.length + " cases)";
  }
  document.getElementById("more-prev").onclick = function () { page--; draw(); };
  document.getElementById("more-next").onclick = function () { page++; draw(); };
  document.getElementById("more-filter").oninput = function (e) {
    var q = e.target.value.toLowerCase();
    shown = q ? all.filter(function (r) { return r.join(" ").toLowerCase().indexOf(q) >= 0; }) : all;
    page = 0; draw();
  };
  draw();
})();
</script>{{else}}</table>{{end}}
<p class="muted">{{.Failing}} cases did not pass: {{.Full}} shown in full{{if .Listed}}, {{.Listed}} more in the paged list{{end}}{{if .Unlisted}}; {{.Unlisted}} more are not in this page (<code>selfevals report --format junit</code> writes every case, <code>selfevals serve</code> browses them){{end}}.</p>
{{end}}

{{define "tail"}}{{if .Passes}}<h2>Passing cases</h2>
<table>
<tr><th>case</th><th>label</th><th>score</th><th>reason, grades and output</th></tr>
{{range .Passes}}{{template "row" .}}{{end}}</table>
{{if .Unlisted}}<p class="muted">{{.Passed}} cases pass: the first {{len .Passes}} by case ID are shown.</p>{{end}}{{end}}
<p class="muted">selfevals report · {{.RS.Slug}} · {{.RS.RunID}}</p>
</main>
</body>
</html>
{{end}}
`
