package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"sync"

	"github.com/goccy/go-json"

	"github.com/selfevals/selfevals/repo"
)

//go:embed ui
var uiFS embed.FS

var funcs = template.FuncMap{
	"num": func(v any) string {
		switch x := v.(type) {
		case *float64:
			if x == nil {
				return "—"
			}
			return fmtNum(*x)
		case float64:
			return fmtNum(x)
		case int:
			return strconv.Itoa(x)
		case int64:
			return strconv.FormatInt(x, 10)
		}
		return fmt.Sprint(v)
	},
	"signed": func(v *float64) string {
		if v == nil {
			return "—"
		}
		if *v > 0 {
			return "+" + fmtNum(*v)
		}
		if *v == 0 {
			return "±0"
		}
		return fmtNum(*v)
	},
	"ci": func(lo, hi *float64) string {
		if lo == nil || hi == nil {
			return ""
		}
		return "[" + fmtNum(*lo) + ", " + fmtNum(*hi) + "]"
	},
	"ms": func(v any) string {
		var f float64
		switch x := v.(type) {
		case float64:
			f = x
		case *float64:
			if x == nil {
				return ""
			}
			f = *x
		case int64:
			f = float64(x)
		}
		if f >= 1000 {
			return fmtNum(f/1000) + " s"
		}
		return fmtNum(f) + " ms"
	},
	"short": func(s string) string {
		if len(s) > 20 {
			return s[:20] + "…"
		}
		return s
	},
	"cut": func(n int, s string) string { return truncate(s, n) },
	"time": func(s string) string {
		t := parseTime(s)
		if t.IsZero() {
			return s
		}
		return t.UTC().Format("2006-01-02 15:04:05")
	},
	"clock": func(s string) string {
		t := parseTime(s)
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("15:04:05.000")
	},
	"params": func(p repo.Parameters) string {
		if len(p) == 0 {
			return "{}"
		}
		b, _ := json.MarshalWithOption(p, json.DisableHTMLEscape())
		return string(b)
	},
	"pretty": func(v any) string {
		var b []byte
		switch x := v.(type) {
		case json.RawMessage:
			if len(x) == 0 {
				return ""
			}
			var buf bytes.Buffer
			if json.Indent(&buf, x, "", "  ") == nil {
				return buf.String()
			}
			return string(x)
		case string:
			return x
		default:
			b, _ = json.MarshalIndentWithOption(v, "", "  ", json.DisableHTMLEscape())
		}
		return string(b)
	},
	"indent": func(depth int) string { return strconv.Itoa(depth * 20) },
	"detailKeys": func(m map[string]any) []string {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return keys
	},
	"detailValue": func(v any) string {
		switch x := v.(type) {
		case string:
			return x
		case json.RawMessage:
			return string(x)
		case repo.Label:
			return string(x)
		}
		b, _ := json.MarshalWithOption(v, json.DisableHTMLEscape())
		return string(b)
	},
	"pval": func(p float64) string {
		if p < 0.001 {
			return "<0.001"
		}
		return "=" + fmtNum(p)
	},
	"pct":     func(v float64) string { return strconv.FormatFloat(v*100, 'f', 0, 64) + "%" },
	"labelOf": func(m map[string]int, l string) int { return m[l] },
	"active": func(v RunView) string {
		if v.Active {
			return string(repo.RunRunning)
		}
		return string(v.State)
	},
}

// pages holds the parsed templates. They are parsed on first use, not at
// start-up: every command of the binary would otherwise pay for them.
var pages = sync.OnceValue(func() map[string]*template.Template {
	sub, err := fs.Sub(uiFS, "ui")
	if err != nil {
		panic(err)
	}
	m := map[string]*template.Template{}
	for _, p := range []string{"index", "experiment", "run", "trace", "thread", "history", "error"} {
		m[p] = template.Must(template.New(p).Funcs(funcs).ParseFS(sub, "layout.html", p+".html"))
	}
	return m
})

type page struct {
	Title     string
	Workspace string
	Nav       string
	Data      any
	Chart     template.HTML
	Charts    []namedChart
	Version   string
}

type namedChart struct {
	Title, Slug string
	SVG         template.HTML
	Note        string
}

func (s *Server) pageRoutes() {
	static, _ := fs.Sub(uiFS, "ui/static")
	files := http.FileServer(http.FS(static))
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !fs.ValidPath(r.URL.Path) {
			// A name fs.FS cannot hold (not UTF-8, "..", a NUL): the file
			// server would call it an internal error.
			s.renderError(w, http.StatusNotFound, "no file at /static/"+r.URL.Path)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})))
	s.mux.HandleFunc("GET /{$}", s.page("index", s.indexPage))
	s.mux.HandleFunc("GET /experiments/{slug}", s.page("experiment", s.experimentPage))
	s.mux.HandleFunc("GET /runs/{run}", s.page("run", s.runPage))
	s.mux.HandleFunc("GET /traces/{id}", s.page("trace", s.tracePage))
	s.mux.HandleFunc("GET /threads/{id}", s.page("thread", s.threadPage))
	s.mux.HandleFunc("GET /history", s.page("history", s.historyPage))
	s.mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, http.StatusNotFound, "no page at "+r.URL.Path)
	})
}

func (s *Server) page(name string, fill func(*http.Request, *page) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := &page{Workspace: s.workspaceName(), Nav: name, Version: s.opts.Version}
		if err := fill(r, p); err != nil {
			status := http.StatusInternalServerError
			if ae, ok := err.(*apiError); ok {
				status = ae.status
			}
			s.renderError(w, status, err.Error())
			return
		}
		s.render(w, http.StatusOK, name, p)
	}
}

func (s *Server) render(w http.ResponseWriter, status int, name string, p *page) {
	var buf bytes.Buffer
	if err := pages()[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (s *Server) renderError(w http.ResponseWriter, status int, msg string) {
	s.render(w, status, "error", &page{Title: http.StatusText(status), Workspace: s.workspaceName(), Data: map[string]any{"Status": status, "Message": msg}})
}

type indexData struct {
	Workspace   any
	Experiments []ExperimentSummary
	Active      []RunView
}

func (s *Server) indexPage(r *http.Request, p *page) error {
	ws, _ := s.apiWorkspace(r)
	exps, _ := s.apiExperiments(r)
	active, _ := s.apiActiveRuns(r)
	p.Title = "Experiments"
	p.Data = indexData{Workspace: ws, Experiments: exps.([]ExperimentSummary), Active: active.([]RunView)}
	return nil
}

type experimentData struct {
	*ExperimentDetail
	Runs []RunView
}

func (s *Server) experimentPage(r *http.Request, p *page) error {
	slug := r.PathValue("slug")
	d, err := s.experimentDetail(slug)
	if err != nil {
		return err
	}
	p.Title = d.Summary.Name
	p.Data = experimentData{ExperimentDetail: d, Runs: s.runViews(slug)}
	var pts []chartPoint
	for _, it := range d.Iterations {
		class := it.Outcome
		if it.Best {
			class += " best"
		}
		pts = append(pts, chartPoint{Label: "#" + strconv.Itoa(it.Iteration), Value: it.Value, Lo: it.Lo, Hi: it.Hi, Class: class,
			Title: fmt.Sprintf("iteration %d: %s %s %s — %s", it.Iteration, it.Metric, fmtPtr(it.Value), ciText(it.Lo, it.Hi), it.Outcome)})
	}
	var target *repo.MetricTarget
	if d.Summary.PrimaryMetric != "" {
		t := d.Summary.PrimaryTarget
		target = &t
	}
	p.Chart = chartSVG(d.Summary.PrimaryMetric+" by iteration", pts, target)
	return nil
}

func fmtPtr(v *float64) string {
	if v == nil {
		return "—"
	}
	return fmtNum(*v)
}

func ciText(lo, hi *float64) string {
	if lo == nil || hi == nil {
		return ""
	}
	return "[" + fmtNum(*lo) + ", " + fmtNum(*hi) + "]"
}

// runData is the run page: the run so far and a page of its calls, newest
// first.
type runData struct {
	*Snapshot
	Pager pager
}

// pager is where a page of calls is among all of them.
type pager struct {
	Offset, Limit, Total int
	From, To             int // 1-based rows shown
	Newer, Older         int // offsets of the neighbouring pages
	HasNewer, HasOlder   bool
}

func newPager(offset, limit, total, shown int) pager {
	p := pager{Offset: offset, Limit: limit, Total: total, From: offset + 1, To: offset + shown,
		Newer: max(0, offset-limit), Older: offset + limit, HasNewer: offset > 0, HasOlder: offset+limit < total}
	if shown == 0 {
		p.From = p.To
	}
	return p
}

func (s *Server) runPage(r *http.Request, p *page) error {
	offset, limit, err := paging(r)
	if err != nil {
		return err
	}
	snap, err := s.runSnapshot(r.PathValue("run"), offset, limit)
	if err != nil {
		return err
	}
	p.Title = "Run " + snap.Run.RunID
	slices.Reverse(snap.Spans) // newest first, as the live page adds rows at the top
	p.Data = runData{Snapshot: snap, Pager: newPager(offset, limit, snap.Calls, len(snap.Spans))}
	return nil
}

func (s *Server) tracePage(r *http.Request, p *page) error {
	v, err := s.trace(r.PathValue("id"))
	if err != nil {
		return err
	}
	p.Title = "Trace " + v.ID
	p.Data = v
	return nil
}

func (s *Server) threadPage(r *http.Request, p *page) error {
	th, err := s.thread(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	p.Title = "Thread " + th.ThreadID
	p.Data = th
	return nil
}

func (s *Server) historyPage(r *http.Request, p *page) error {
	h := s.history()
	p.Title = "History"
	p.Data = h
	for _, e := range h.Experiments {
		var target *repo.MetricTarget
		if e.Metric != "" {
			t := e.Target
			target = &t
		}
		var commits, runs []chartPoint
		for _, c := range e.Commits {
			class := "commit"
			if c.TargetMet != nil && *c.TargetMet {
				class += " met"
			}
			commits = append(commits, chartPoint{Label: c.Commit[:min(7, len(c.Commit))], Value: c.Value, Lo: c.Lo, Hi: c.Hi, Class: class,
				Title: fmt.Sprintf("%s %s: %s %s %s", c.Commit[:min(12, len(c.Commit))], c.At, e.Metric, fmtPtr(c.Value), c.Subject)})
		}
		for _, rp := range e.Runs {
			at := parseTime(rp.At)
			label := rp.RunID
			if !at.IsZero() {
				label = at.UTC().Format("01-02 15:04")
			}
			runs = append(runs, chartPoint{Label: label, Value: rp.Value, Lo: rp.Lo, Hi: rp.Hi, Class: "run " + string(rp.State),
				Title: fmt.Sprintf("%s (%s): iteration 0 %s %s, best %s", rp.RunID, rp.State, e.Metric, fmtPtr(rp.Value), fmtPtr(rp.Best)),
				Href:  "/runs/" + rp.RunID})
		}
		if len(commits) > 0 || !h.Git {
			note := fmt.Sprintf("%d commits that changed evals/results/%s/summary.json", len(commits), e.Slug)
			if !h.Git {
				note = "not a git repository: no commit history"
			}
			p.Charts = append(p.Charts, namedChart{Title: e.Name + " — " + e.Metric + " over commits", Slug: e.Slug, SVG: chartSVG(e.Metric+" over commits", commits, target), Note: note})
		}
		p.Charts = append(p.Charts, namedChart{Title: e.Name + " — " + e.Metric + " over runs (iteration 0)", Slug: e.Slug, SVG: chartSVG(e.Metric+" over runs", runs, target),
			Note: fmt.Sprintf("%d runs", len(runs))})
	}
	return nil
}
