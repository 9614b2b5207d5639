// Package web serves the evals/ tree over HTTP for `selfevals serve`: a
// read-only JSON API (experiments, runs, iterations, decisions, traces,
// threads, the metric history, active runs), a Server-Sent-Events stream of
// a run in progress, and a web UI of plain HTML pages rendered here, with
// inline SVG charts and a little JavaScript for the live run page. Nothing
// is built separately: the templates, stylesheet and script are embedded.
//
// Every response is computed from files under evals/ (and the git history
// of evals/results/): no request names a file path, IDs are checked against
// their formats before they touch the file system, and only GET and HEAD
// are answered.
package web

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/goccy/go-json"

	"github.com/selfevals/selfevals/internal/lazy"
	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/runstore"
)

// Options configure a Server.
type Options struct {
	// EvalsDir is the evals/ directory served.
	EvalsDir string
	// Version is reported by /api/health.
	Version string
	// LoopbackOnly refuses requests whose Host header is not a loopback
	// name or address, so a web page on another site cannot reach the
	// server through DNS rebinding. `serve` sets it unless --public.
	LoopbackOnly bool
	// Poll is how often a live stream looks for new results (default
	// 200 ms, the results writer's flush interval).
	Poll time.Duration
	// Ping is the SSE heartbeat interval (default 15 s).
	Ping time.Duration
	// TraceRows reads a traces.parquet (tracefile.ReadRows): a finished
	// run's spans then come from there. Nil: from results.jsonl, which
	// holds the same spans; the server then does not link parquet.
	TraceRows func(path string, fn func(runstore.TraceRow) error) error
	// MaxStreams caps the live streams open at once (default 64): each
	// holds a connection and polls a file, so an unbounded number of tabs
	// or a misbehaving client could exhaust the process.
	MaxStreams int
}

// Server answers the API and the UI for one evals/ directory.
type Server struct {
	evalsDir string   // absolute
	layout   repo.Dir // evalsDir's places
	store    runstore.Store
	specs    specCache
	root     string // the repository root: evals/'s parent
	opts     Options
	mux      *http.ServeMux
	streams  chan struct{} // one token per open live stream
}

// New makes a server over opts.EvalsDir.
func New(opts Options) (*Server, error) {
	pages() // parse the templates now, so a broken one fails at start
	if opts.EvalsDir == "" {
		opts.EvalsDir = "evals"
	}
	abs, err := filepath.Abs(opts.EvalsDir)
	if err != nil {
		return nil, err
	}
	if opts.Poll <= 0 {
		opts.Poll = 200 * time.Millisecond
	}
	if opts.Ping <= 0 {
		opts.Ping = 15 * time.Second
	}
	if opts.MaxStreams <= 0 {
		opts.MaxStreams = 64
	}
	s := &Server{evalsDir: abs, layout: repo.Dir(abs), store: runstore.Open(abs), specs: specCache{entries: map[string]specEntry{}}, root: filepath.Dir(abs), opts: opts, mux: http.NewServeMux(),
		streams: make(chan struct{}, opts.MaxStreams)}
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	api := map[string]func(*http.Request) (any, error){
		"/api/health":                  s.apiHealth,
		"/api/workspace":               s.apiWorkspace,
		"/api/experiments":             s.apiExperiments,
		"/api/experiments/{slug}":      s.apiExperiment,
		"/api/experiments/{slug}/runs": s.apiExperimentRuns,
		"/api/runs/active":             s.apiActiveRuns,
		"/api/runs/{run}":              s.apiRun,
		"/api/runs/{run}/iterations":   s.apiRunIterations,
		"/api/runs/{run}/decisions":    s.apiRunDecisions,
		"/api/runs/{run}/calls":        s.apiRunCalls,
		"/api/iterations/{id}":         s.apiIteration,
		"/api/traces/{id}":             s.apiTrace,
		"/api/threads/{id}":            s.apiThread,
		"/api/history":                 s.apiHistory,
	}
	for pattern, fn := range api {
		s.mux.HandleFunc("GET "+pattern, s.jsonHandler(fn))
	}
	s.mux.HandleFunc("GET /api/runs/{run}/stream", s.stream)
	s.mux.HandleFunc("GET /api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such API endpoint: "+r.URL.Path)
	})
	s.pageRoutes()
}

// ServeHTTP refuses write methods and path tricks before routing.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "selfevals serve is read-only: "+r.Method+" is not allowed")
		return
	}
	if s.opts.LoopbackOnly && !loopbackHost(r.Host) {
		writeError(w, http.StatusForbidden, "this server answers only on a loopback address (start it with --public to serve other hosts)")
		return
	}
	if msg := pathTrick(r); msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// pathTrick says why a request path is refused: dot segments, empty
// segments (an absolute path inside the URL), backslashes, NUL, or an
// encoded slash or backslash. ServeMux would clean some of these and
// redirect; they are refused outright instead.
func pathTrick(r *http.Request) string {
	raw := r.URL.EscapedPath()
	lower := strings.ToLower(raw)
	switch {
	case strings.Contains(lower, "%2f"), strings.Contains(lower, "%5c"):
		return "encoded slashes are not allowed in paths"
	case strings.Contains(lower, "%00"), strings.ContainsRune(r.URL.Path, 0):
		return "NUL is not allowed in paths"
	case strings.ContainsRune(r.URL.Path, '\\'):
		return "backslashes are not allowed in paths"
	case strings.Contains(r.URL.Path, "//"):
		return "empty path segments are not allowed"
	}
	for _, seg := range strings.Split(r.URL.Path, "/") {
		if seg == "." || seg == ".." {
			return "dot segments are not allowed in paths"
		}
	}
	return ""
}

func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// apiError is an error with an HTTP status.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func notFound(format string, a ...any) error {
	return &apiError{http.StatusNotFound, fmt.Sprintf(format, a...)}
}

func badRequest(format string, a ...any) error {
	return &apiError{http.StatusBadRequest, fmt.Sprintf(format, a...)}
}

func (s *Server) jsonHandler(fn func(*http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := fn(r)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

func writeErr(w http.ResponseWriter, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		writeError(w, ae.status, ae.msg)
		return
	}
	writeError(w, http.StatusInternalServerError, err.Error())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndentWithOption(v, "", "  ", json.DisableHTMLEscape())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Error  string `json:"error"`
	Status int    `json:"status"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.MarshalWithOption(ErrorBody{Error: msg, Status: status}, json.DisableHTMLEscape())
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// ID formats. Everything that reaches the file system is checked here.
var (
	slugRE  = idFormat{lazy.Regexp(`^[a-z0-9][a-z0-9_.-]*$`), 128}
	runRE   = idFormat{lazy.Regexp(`^run_[A-Za-z0-9]+$`), 4 + 64}
	itrRE   = idFormat{lazy.Regexp(`^itr_[A-Za-z0-9]+$`), 4 + 64}
	traceRE = idFormat{lazy.Regexp(`^tr_[A-Za-z0-9]+$`), 3 + 64}
	// Case and thread IDs are the user's own strings.
	caseRE   = idFormat{lazy.Regexp(`^[A-Za-z0-9][A-Za-z0-9_.:@+-]*$`), 200}
	threadRE = caseRE
)

// idFormat is a pattern and a length limit. The limit is checked apart: a
// bounded repetition like {0,199} compiles into one copy per repetition,
// which cost milliseconds at every start of the binary.
type idFormat struct {
	re  func() *regexp.Regexp
	max int
}

// MatchString reports whether s has the format.
func (f idFormat) MatchString(s string) bool { return len(s) <= f.max && f.re().MatchString(s) }

func checkSlug(slug string) error {
	if !slugRE.MatchString(slug) || strings.Contains(slug, "..") {
		return badRequest("%q is not an experiment slug", slug)
	}
	return nil
}

func checkRun(id string) error {
	if !runRE.MatchString(id) {
		return badRequest("%q is not a run ID (run_…)", id)
	}
	return nil
}

func (s *Server) apiHealth(*http.Request) (any, error) {
	return map[string]any{"status": "ok", "evals_dir": s.relPath(s.evalsDir), "version": s.opts.Version}, nil
}

// relPath shows a path relative to the repository root.
func (s *Server) relPath(p string) string {
	if r, err := filepath.Rel(s.root, p); err == nil && !strings.HasPrefix(r, "..") {
		return filepath.ToSlash(r)
	}
	return filepath.Base(p)
}
