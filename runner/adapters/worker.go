package adapters

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/selfevals/selfevals/repo"
)

// WorkerPool keeps long-lived agent processes, speaking JSON lines: one
// request line in, one response line out. It starts with one per core (or
// agent.workers) and grows toward one per parallel slot while the workers
// wait more than they compute (see workersize.go). Processes start on
// first use. A worker that dies is restarted and the call retried once on
// the fresh worker; a worker that times out or sends a line over the output
// cap is killed (its stream can no longer be trusted) and restarted on the
// next call.
type WorkerPool struct {
	spec    *processSpec
	timeout time.Duration
	// startup is added to the first call's deadline on a fresh process: an
	// interpreter loading its libraries, or 64 of them starting at once on
	// two cores, is not an agent too slow to answer.
	startup time.Duration
	desc    string
	slots   chan *worker // idle workers, started or not
	closed  atomic.Bool
	// max is the most workers the pool may have (run.parallelism);
	// fixed, that the number is agent.workers and the pool never grows.
	max   int
	fixed bool
	sizer workerSizer
	mu    sync.Mutex // guards all
	all   []*worker
	size  atomic.Int32 // len(all), read without the lock
}

func newWorkerPool(agent repo.Agent, opts Options) (*WorkerPool, error) {
	spec, err := newProcessSpec(agent, opts)
	if err != nil {
		return nil, err
	}
	p := &WorkerPool{spec: spec, timeout: opts.Timeout, startup: cmp.Or(agent.StartupTimeout.D(), DefaultStartupTimeout),
		desc: Describe(agent), slots: make(chan *worker, opts.Parallelism), max: opts.Parallelism, fixed: agent.Workers > 0}
	for range initialWorkers(agent.Workers, opts.Parallelism) {
		w := &worker{spec: spec}
		p.all = append(p.all, w)
		p.slots <- w
	}
	p.size.Store(int32(len(p.all)))
	return p, nil
}

// Workers is how many worker processes the pool has now.
func (p *WorkerPool) Workers() int { return int(p.size.Load()) }

// take returns an idle worker, or a new one when every worker is busy and
// the sizer says another would help, or waits for one to be free.
func (p *WorkerPool) take(ctx context.Context) (*worker, error) {
	select {
	case w := <-p.slots:
		return w, nil
	default:
	}
	if w := p.grow(); w != nil {
		return w, nil
	}
	// Waiting for a slot counts against the call, as a busy agent would.
	waitCtx, cancel := withDeadline(ctx, p.timeout)
	defer cancel()
	// While it waits, the pool may be found to need another worker.
	var again <-chan time.Time
	if !p.fixed && int(p.size.Load()) < p.max {
		t := time.NewTicker(sizeWindow)
		defer t.Stop()
		again = t.C
	}
	for {
		select {
		case w := <-p.slots:
			return w, nil
		case <-again:
			if w := p.grow(); w != nil {
				return w, nil
			}
		case <-waitCtx.Done():
			return nil, ctxError(waitCtx, "agent worker", time.Now())
		}
	}
}

// grow adds a worker (returned busy, to its caller) if the pool may grow
// and its workers have been waiting more than computing.
func (p *WorkerPool) grow() *worker {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fixed || len(p.all) >= p.max || p.closed.Load() {
		return nil
	}
	pids := make([]int, 0, len(p.all))
	for _, w := range p.all {
		if pid := int(w.pid.Load()); pid != 0 {
			pids = append(pids, pid)
		}
	}
	if !p.sizer.shouldGrow(pids) {
		return nil
	}
	w := &worker{spec: p.spec}
	p.all = append(p.all, w)
	p.size.Store(int32(len(p.all)))
	return w
}

// String describes the agent without secrets.
func (p *WorkerPool) String() string { return p.desc }

// DefaultStartupTimeout is how long a worker may take to start when
// agent.startup_timeout is not set.
const DefaultStartupTimeout = 30 * time.Second

// CallTimeout and Begin make the pool RunScoped, so it sets each call's
// deadline itself: run.timeout, plus the start-up allowance when the call
// starts a process.
func (p *WorkerPool) CallTimeout() time.Duration         { return p.timeout }
func (p *WorkerPool) Begin(context.Context) (end func()) { return func() {} }

var _ RunScoped = (*WorkerPool)(nil)

// Call sends the request to an idle worker, starting it if needed.
func (p *WorkerPool) Call(ctx context.Context, req *repo.Request) (repo.Response, error) {
	info := callInfoFrom(ctx)
	if info != nil {
		*info = CallInfo{}
	}
	body, err := encodeRequest(req)
	if err != nil {
		return repo.Response{}, err
	}
	defer body.release()

	w, err := p.take(ctx)
	if err != nil {
		return repo.Response{}, err
	}
	defer func() { p.slots <- w }()
	for attempt := 1; ; attempt++ {
		if p.closed.Load() {
			return repo.Response{}, &CallError{Kind: repo.ErrCanceled, Msg: "agent workers were shut down"}
		}
		if info != nil {
			info.Attempts = attempt
		}
		resp, err, died := p.callOn(ctx, w, body.Bytes())
		if died && attempt == 1 && ctx.Err() == nil {
			continue // transparently, once, on a fresh process
		}
		return resp, err
	}
}

// callOn makes one attempt on w under its own deadline.
func (p *WorkerPool) callOn(ctx context.Context, w *worker, line []byte) (repo.Response, error, bool) {
	limit, starting := p.timeout, w.cmd == nil
	if starting {
		limit += p.startup
	}
	callCtx, cancel := withDeadline(ctx, limit)
	defer cancel()
	start := time.Now()
	resp, err, died := w.call(callCtx, line, start)
	if !starting { // as the start-up's CPU, its time is left out
		p.sizer.called(time.Since(start))
	}
	var ce *CallError
	if starting && errors.As(err, &ce) && ce.Kind == repo.ErrTimeout && callCtx.Err() == context.DeadlineExceeded {
		ce.Msg = fmt.Sprintf("agent worker started but did not answer its first request within %s (agent.startup_timeout %s + run.timeout %s); raise agent.startup_timeout if it is slow to start",
			time.Since(start).Round(time.Millisecond), p.startup, p.timeout)
	}
	return resp, err, died
}

// Close stops every worker: stdin closed so a well-behaved worker exits,
// then, after a short wait, the process group killed.
func (p *WorkerPool) Close() error {
	p.mu.Lock() // no worker is added after closed is set
	if p.closed.Swap(true) {
		p.mu.Unlock()
		return nil
	}
	all := p.all
	p.mu.Unlock()
	var wg sync.WaitGroup
	for range all {
		var w *worker
		select {
		case w = <-p.slots:
		case <-time.After(2 * time.Second):
			// Still busy: kill what it runs; the call sees EOF and ends.
			for _, busy := range all {
				killGroup(int(busy.pid.Load()))
			}
			w = <-p.slots
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.stop(time.Second)
		}()
		defer func() { p.slots <- w }()
	}
	wg.Wait()
	return nil
}

// worker is one slot of the pool. Only the goroutine holding it (taken from
// the slots channel) touches it, except pid, which Close may read to kill.
type worker struct {
	spec   *processSpec
	cmd    *exec.Cmd
	pid    atomic.Int64
	in     *os.File
	out    *os.File
	w      *bufio.Writer
	r      *bufio.Reader
	stderr tailBuffer

	stderrDone chan struct{}
	exited     chan struct{} // closed when the process has been reaped
	line       []byte        // reused for lines longer than the read buffer
}

func (w *worker) start() error {
	inR, inW, err := os.Pipe()
	if err != nil {
		return &CallError{Kind: repo.ErrInternal, Msg: "create pipes for the agent worker: " + err.Error()}
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return &CallError{Kind: repo.ErrInternal, Msg: "create pipes for the agent worker: " + err.Error()}
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		for _, f := range []*os.File{inR, inW, outR, outW} {
			f.Close()
		}
		return &CallError{Kind: repo.ErrInternal, Msg: "create pipes for the agent worker: " + err.Error()}
	}
	// A worker serves many calls: each call's traceparent is in its
	// request's metadata, not the environment.
	cmd := w.spec.command("")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	err = cmd.Start()
	inR.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		errR.Close()
		return &CallError{Kind: repo.ErrInternal, Msg: "start the agent worker: " + err.Error()}
	}
	w.cmd, w.in, w.out = cmd, inW, outR
	w.pid.Store(int64(cmd.Process.Pid))
	if w.w == nil {
		w.w = bufio.NewWriterSize(inW, 64<<10)
		w.r = bufio.NewReaderSize(outR, 64<<10)
	} else {
		w.w.Reset(inW)
		w.r.Reset(outR)
	}
	w.stderr.Reset()
	w.stderrDone = make(chan struct{})
	w.exited = make(chan struct{})
	go func(done chan struct{}) {
		_, _ = io.Copy(&w.stderr, errR)
		errR.Close()
		close(done)
	}(w.stderrDone)
	go func(done chan struct{}) {
		_ = cmd.Wait()
		close(done)
	}(w.exited)
	return nil
}

// call sends one request line and reads one response line. died reports
// that the worker ended on its own (worth one retry on a fresh process).
func (w *worker) call(ctx context.Context, line []byte, start time.Time) (resp repo.Response, err error, died bool) {
	if w.cmd == nil {
		if err := w.start(); err != nil {
			return repo.Response{}, err, false
		}
	}
	pid := int(w.pid.Load())
	// Blocking pipe I/O does not watch ctx: on the deadline, kill the
	// process so the read or write returns.
	stop := context.AfterFunc(ctx, func() { killGroup(pid) })
	_, err = w.w.Write(line)
	if err == nil {
		err = w.w.Flush()
	}
	var data []byte
	if err == nil {
		data, err = w.readLine()
	}
	if !stop() {
		partial := excerpt(data, excerptLimit)
		w.kill()
		ce := ctxError(ctx, "agent worker", start)
		ce.Stderr, ce.Partial = w.stderr.String(), partial
		return repo.Response{}, ce, false
	}
	if errors.Is(err, errLineTooLong) {
		ce := tooLarge("agent worker", data, w.spec.limit)
		w.kill()
		ce.Stderr = w.stderr.String()
		return repo.Response{}, ce, false
	}
	if err != nil {
		// EOF or a broken pipe: the worker is gone. Give it a moment to be
		// reaped so the message can say how it ended.
		select {
		case <-w.exited:
		case <-time.After(100 * time.Millisecond):
		}
		how := exitDescription(w.cmd.ProcessState)
		w.kill()
		msg := "agent worker ended (" + how + ") before answering"
		stderr := w.stderr.String()
		if l := firstLine(stderr); l != "" {
			msg += ": " + l
		}
		return repo.Response{}, &CallError{Kind: repo.ErrExit, Msg: msg, Transient: true, Stderr: stderr, Partial: excerpt(data, excerptLimit)}, true
	}
	resp, err = ParseResponse(data)
	if err != nil {
		if w.spec.text {
			return repo.Response{Output: string(data)}, nil, false
		}
		if ce, ok := err.(*CallError); ok {
			ce.Stderr = w.stderr.String()
		}
	}
	return resp, err, false
}

var errLineTooLong = errors.New("response line over the output cap")

// readLine returns the next non-empty line without its newline. The slice
// is valid until the next read. Past the output cap it stops with
// errLineTooLong and returns what it kept.
func (w *worker) readLine() ([]byte, error) {
	limit := w.spec.limit
	for {
		chunk, err := w.r.ReadSlice('\n')
		if err == nil && len(w.line) == 0 {
			// The common case: the whole line sits in the read buffer.
			chunk = trimEOL(chunk)
			if int64(len(chunk)) > limit {
				return chunk, errLineTooLong
			}
			if len(chunk) == 0 {
				continue
			}
			return chunk, nil
		}
		w.line = append(w.line, chunk...)
		switch {
		case err == nil:
			data := trimEOL(w.line)
			w.line = w.line[:0]
			if int64(len(data)) > limit {
				return data, errLineTooLong
			}
			if len(data) == 0 {
				continue
			}
			return data, nil
		case errors.Is(err, bufio.ErrBufferFull):
			if int64(len(w.line)) > limit {
				data := w.line
				w.line = nil
				return data, errLineTooLong
			}
		default:
			data := w.line
			w.line = w.line[:0]
			return data, err
		}
	}
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

// kill ends the process group now and forgets the process; the next call
// starts a fresh one.
func (w *worker) kill() {
	if w.cmd == nil {
		return
	}
	killGroup(int(w.pid.Load()))
	w.reap()
}

// stop asks the worker to exit by closing its stdin, then kills it after
// grace.
func (w *worker) stop(grace time.Duration) {
	if w.cmd == nil {
		return
	}
	w.in.Close()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-w.exited:
	case <-t.C:
	}
	killGroup(int(w.pid.Load()))
	w.reap()
}

func (w *worker) reap() {
	<-w.exited
	w.in.Close()
	w.out.Close()
	select {
	case <-w.stderrDone:
	case <-time.After(pipeGrace):
		// A process outside the group still holds stderr; the copier
		// ends when it does. Nothing else waits on it.
	}
	w.cmd = nil
	w.pid.Store(0)
	w.line = w.line[:0]
}

var _ Adapter = (*WorkerPool)(nil)
