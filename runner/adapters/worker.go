package adapters

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/selfevals/selfevals/repo"
)

// WorkerPool keeps one long-lived agent process per parallel slot, speaking
// JSON lines: one request line in, one response line out. Processes start
// on first use. A worker that dies is restarted and the call retried once on
// the fresh worker; a worker that times out or sends a line over the output
// cap is killed (its stream can no longer be trusted) and restarted on the
// next call.
type WorkerPool struct {
	spec    *processSpec
	timeout time.Duration
	desc    string
	slots   chan *worker // idle workers, started or not
	all     []*worker
	closed  atomic.Bool
}

func newWorkerPool(agent repo.Agent, opts Options) (*WorkerPool, error) {
	spec, err := newProcessSpec(agent, opts)
	if err != nil {
		return nil, err
	}
	p := &WorkerPool{spec: spec, timeout: opts.Timeout, desc: Describe(agent), slots: make(chan *worker, opts.Parallelism)}
	for i := 0; i < opts.Parallelism; i++ {
		w := &worker{spec: spec}
		p.all = append(p.all, w)
		p.slots <- w
	}
	return p, nil
}

// String describes the agent without secrets.
func (p *WorkerPool) String() string { return p.desc }

// Call sends the request to an idle worker.
func (p *WorkerPool) Call(ctx context.Context, req *repo.Request) (repo.Response, error) {
	ctx, cancel := withDeadline(ctx, p.timeout)
	defer cancel()
	start := time.Now()
	info := callInfoFrom(ctx)
	if info != nil {
		*info = CallInfo{}
	}
	body, err := encodeRequest(req)
	if err != nil {
		return repo.Response{}, err
	}
	defer body.release()

	var w *worker
	select {
	case w = <-p.slots:
	case <-ctx.Done():
		return repo.Response{}, ctxError(ctx, "agent worker", start)
	}
	defer func() { p.slots <- w }()
	for attempt := 1; ; attempt++ {
		if p.closed.Load() {
			return repo.Response{}, &CallError{Kind: repo.ErrCanceled, Msg: "agent workers were shut down"}
		}
		if info != nil {
			info.Attempts = attempt
		}
		resp, err, died := w.call(ctx, body.Bytes(), start)
		if died && attempt == 1 && ctx.Err() == nil {
			continue // transparently, once, on a fresh process
		}
		return resp, err
	}
}

// Close stops every worker: stdin closed so a well-behaved worker exits,
// then, after a short wait, the process group killed.
func (p *WorkerPool) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	var wg sync.WaitGroup
	for range p.all {
		var w *worker
		select {
		case w = <-p.slots:
		case <-time.After(2 * time.Second):
			// Still busy: kill what it runs; the call sees EOF and ends.
			for _, busy := range p.all {
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
	cmd := w.spec.command()
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
