package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/runstore/tracefile"
	"github.com/selfevals/selfevals/reports/web"
)

type serveOptions struct {
	global *globalOptions
	addr   string
	public bool
	// ready, when set, receives the URL once the server listens (tests).
	ready func(url string)
}

func newServeCmd(io *IOStreams, g *globalOptions) *cobra.Command {
	opts := &serveOptions{global: g}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve a read-only web UI and JSON API over evals/, with live runs",
		Long: `serve starts a web server over the evals/ tree and its git history: the
experiments, their runs, iterations and decisions with metric charts, traces
as span trees, multi-turn threads with a grade per turn, the primary metric
over commits and runs, and a live page for a run in progress (in this or any
other process) that fills in as calls finish.

It only reads: GET and HEAD are answered, every other method gets 405. It
listens on loopback (127.0.0.1:7878) unless told otherwise; an address other
than a loopback one is refused unless --public is given, because everything
under evals/ (agent outputs included) becomes readable to whoever can reach
it. Ctrl-C stops it gracefully.

The JSON API is under /api: health, workspace, experiments,
experiments/<slug>, experiments/<slug>/runs, runs/active, runs/<run>,
runs/<run>/iterations, runs/<run>/decisions, runs/<run>/calls,
runs/<run>/stream (Server-Sent Events: snapshot, span, iteration, ping,
complete), iterations/<id>, traces/<id>, threads/<thread-id> and history.

Lists of calls come a page at a time (?offset=&limit=, at most 1000, with
the total): runs/<run>/calls newest first (?iteration=N for one iteration,
?order=oldest_first), iterations/<id> oldest first, and the run page. A
run's results are read through an index, results.idx beside results.jsonl,
built on the first visit (a few seconds at a million calls) and reused
while results.jsonl is unchanged, so a page reads only the lines it shows.`,
		Example: `  selfevals serve
  selfevals serve --addr 127.0.0.1:9000
  selfevals serve --addr 0.0.0.0:7878 --public   # reachable from other machines
  curl -s localhost:7878/api/experiments | jq '.[].committed.primary'
  curl -s 'localhost:7878/api/runs/RUN_ID/calls?iteration=0&offset=100&limit=50' | jq '.total, .calls[0]'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runServe(cmd.Context(), io, opts)
		},
	}
	cmd.Flags().StringVar(&opts.addr, "addr", "127.0.0.1:7878", "host:port to listen on (port 0 picks a free one)")
	cmd.Flags().BoolVar(&opts.public, "public", false, "allow a non-loopback --addr (serves evals/ to the network)")
	return cmd
}

// checkServeAddr refuses an address that is not loopback unless public.
func checkServeAddr(addr string, public bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return repo.Userf("--addr %q is not host:port (e.g. 127.0.0.1:7878): %v", addr, err)
	}
	if port == "" {
		return repo.Userf("--addr %q has no port", addr)
	}
	if public {
		return nil
	}
	if isLoopback(host) {
		return nil
	}
	shown := host
	if shown == "" {
		shown = "every interface"
	}
	return &repo.UserError{
		Msg:  fmt.Sprintf("--addr %s listens on %s, not on loopback: refused without --public", addr, shown),
		Hint: "use --addr 127.0.0.1:" + port + " to stay on this machine, or add --public to serve evals/ to the network (read-only, no authentication)",
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	return ip != nil && ip.IsLoopback()
}

func runServe(ctx context.Context, io *IOStreams, opts *serveOptions) error {
	if err := checkServeAddr(opts.addr, opts.public); err != nil {
		return err
	}
	dir := opts.global.evalsDir()
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return repo.Userf("no evals/ directory at %s: run selfevals init, or point --dir at one", opts.global.env.show(dir))
	}
	srv, err := web.New(web.Options{EvalsDir: dir, Version: toolVersion(), LoopbackOnly: !opts.public, TraceRows: tracefile.ReadRows})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", opts.addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", opts.addr, err)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	return serveUntilDone(ctx, io, opts, srv, ln)
}

// serveUntilDone serves on ln until the listener fails or ctx is done, then
// shuts down gracefully.
func serveUntilDone(ctx context.Context, io *IOStreams, opts *serveOptions, srv http.Handler, ln net.Listener) error {
	// Requests run under base, which is cancelled on shutdown so live
	// streams end instead of holding Shutdown up.
	base, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		// The API takes no request bodies: a slow or idle client is cut
		// off. No WriteTimeout: live streams write for as long as a run.
		ReadTimeout: 30 * time.Second,
		IdleTimeout: 2 * time.Minute,
		BaseContext: func(net.Listener) context.Context { return base },
	}
	url := "http://" + ln.Addr().String() + "/"
	fmt.Fprintf(io.Out, "selfevals serve: %s (read-only; Ctrl-C to stop)\n", url)
	if opts.ready != nil {
		opts.ready(url)
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	fmt.Fprintln(io.ErrOut, "stopping…")
	cancelBase()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
