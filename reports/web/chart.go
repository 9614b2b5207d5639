package web

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"

	"github.com/selfevals/selfevals/repo"
)

// chartPoint is one point of a metric chart: a value with an optional
// interval drawn as an error bar.
type chartPoint struct {
	Label  string // x-axis label
	Title  string // tooltip
	Value  *float64
	Lo, Hi *float64
	Class  string // CSS class of the marker: keep, reject, best, …
	Href   string
}

// chartSVG draws points left to right with their intervals, a dashed line
// at the target, and y from the data's range (0..1 for rates). It is plain
// inline SVG: no script, no external resource.
func chartSVG(title string, pts []chartPoint, target *repo.MetricTarget) template.HTML {
	const w, h = 720.0, 240.0
	const left, right, top, bottom = 56.0, 16.0, 24.0, 40.0
	lo, hi := math.Inf(1), math.Inf(-1)
	grow := func(v *float64) {
		if v != nil && !math.IsNaN(*v) && !math.IsInf(*v, 0) {
			lo, hi = math.Min(lo, *v), math.Max(hi, *v)
		}
	}
	for _, p := range pts {
		grow(p.Value)
		grow(p.Lo)
		grow(p.Hi)
	}
	if target != nil {
		grow(&target.Value)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %g %g" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`, w, h, html.EscapeString(title))
	fmt.Fprintf(&b, `<title>%s</title>`, html.EscapeString(title))
	if math.IsInf(lo, 1) {
		fmt.Fprintf(&b, `<text x="%g" y="%g" class="empty">no values yet</text></svg>`, w/2, h/2)
		return template.HTML(b.String())
	}
	if lo >= 0 && hi <= 1 {
		lo, hi = 0, 1
	} else if lo == hi {
		lo, hi = lo-1, hi+1
	} else {
		pad := (hi - lo) * 0.1
		lo, hi = lo-pad, hi+pad
	}
	plotW, plotH := w-left-right, h-top-bottom
	y := func(v float64) float64 { return top + plotH*(1-(v-lo)/(hi-lo)) }
	n := len(pts)
	x := func(i int) float64 {
		if n == 1 {
			return left + plotW/2
		}
		return left + 16 + (plotW-32)*float64(i)/float64(n-1)
	}
	// Axes and grid.
	for k := 0; k <= 4; k++ {
		v := lo + (hi-lo)*float64(k)/4
		fmt.Fprintf(&b, `<line class="grid" x1="%g" x2="%g" y1="%.1f" y2="%.1f"/>`, left, w-right, y(v), y(v))
		fmt.Fprintf(&b, `<text class="tick" x="%g" y="%.1f" text-anchor="end">%s</text>`, left-6, y(v)+4, html.EscapeString(fmtNum(v)))
	}
	fmt.Fprintf(&b, `<line class="axis" x1="%g" x2="%g" y1="%g" y2="%g"/>`, left, left, top, h-bottom)
	fmt.Fprintf(&b, `<line class="axis" x1="%g" x2="%g" y1="%g" y2="%g"/>`, left, w-right, h-bottom, h-bottom)
	if target != nil {
		ty := y(target.Value)
		fmt.Fprintf(&b, `<line class="target" x1="%g" x2="%g" y1="%.1f" y2="%.1f"/>`, left, w-right, ty, ty)
		fmt.Fprintf(&b, `<text class="target-label" x="%g" y="%.1f" text-anchor="end">target %s</text>`, w-right-4, ty-5, html.EscapeString(target.Operator+" "+fmtNum(target.Value)))
	}
	// Line through the values.
	var path []string
	for i, p := range pts {
		if p.Value != nil {
			path = append(path, fmt.Sprintf("%.1f,%.1f", x(i), y(*p.Value)))
		}
	}
	if len(path) > 1 {
		fmt.Fprintf(&b, `<polyline class="series" points="%s"/>`, strings.Join(path, " "))
	}
	step := 1
	if n > 16 {
		step = (n + 15) / 16
	}
	for i, p := range pts {
		cx := x(i)
		if i%step == 0 || i == n-1 {
			fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%g" text-anchor="middle">%s</text>`, cx, h-bottom+16, html.EscapeString(p.Label))
		}
		if p.Value == nil {
			continue
		}
		if p.Lo != nil && p.Hi != nil {
			y1, y2 := y(*p.Lo), y(*p.Hi)
			fmt.Fprintf(&b, `<g class="errbar"><line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/><line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/><line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/></g>`,
				cx, cx, y1, y2, cx-5, cx+5, y1, y1, cx-5, cx+5, y2, y2)
		}
		marker := fmt.Sprintf(`<circle class="pt %s" cx="%.1f" cy="%.1f" r="5"><title>%s</title></circle>`,
			html.EscapeString(p.Class), cx, y(*p.Value), html.EscapeString(p.Title))
		if p.Href != "" {
			marker = fmt.Sprintf(`<a href="%s">%s</a>`, html.EscapeString(p.Href), marker)
		}
		b.WriteString(marker)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// fmtNum prints a metric value with sensible precision.
func fmtNum(v float64) string {
	switch {
	case math.IsNaN(v):
		return "—"
	case v == math.Trunc(v) && math.Abs(v) < 1e12:
		return fmt.Sprintf("%d", int64(v))
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.1f", v)
	case math.Abs(v) >= 1:
		return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), ".")
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.4f", v), "0"), ".")
}
