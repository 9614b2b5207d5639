package adapters

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"time"

	"github.com/selfevals/selfevals/repo"
)

// pipeGrace is how long the output of an exited agent may take to drain
// before its pipes are closed under whoever still holds them.
const pipeGrace = 500 * time.Millisecond

// Command runs one process per call: the request on stdin, the response on
// stdout, stderr kept (its tail) for the trace.
//
// Each process leads its own process group. When the call ends (answered,
// timed out, overflowed) the whole group is killed, so nothing the agent
// spawned outlives the call or holds its pipes open.
type Command struct {
	spec    *processSpec
	timeout time.Duration
	desc    string
}

func newCommand(agent repo.Agent, opts Options) (*Command, error) {
	spec, err := newProcessSpec(agent, opts)
	if err != nil {
		return nil, err
	}
	return &Command{spec: spec, timeout: opts.Timeout, desc: Describe(agent)}, nil
}

// String describes the agent without secrets.
func (c *Command) String() string { return c.desc }

// Close does nothing: no process outlives its call.
func (c *Command) Close() error { return nil }

// Call runs the agent once.
func (c *Command) Call(ctx context.Context, req *repo.Request) (repo.Response, error) {
	ctx, cancel := withDeadline(ctx, c.timeout)
	defer cancel()
	start := time.Now()
	info := callInfoFrom(ctx)
	if info != nil {
		*info = CallInfo{Attempts: 1}
	}
	if ctx.Err() != nil {
		return repo.Response{}, ctxError(ctx, "agent", start)
	}
	body, err := encodeRequest(req)
	if err != nil {
		return repo.Response{}, err
	}
	defer body.release()

	res, err := c.run(ctx, body.Bytes(), start)
	if info != nil {
		info.Stderr = res.stderr
	}
	if err != nil {
		return repo.Response{}, err
	}
	return c.parse(res.stdout, res.stderr)
}

type runResult struct {
	stdout []byte
	stderr string
}

func (c *Command) run(ctx context.Context, stdin []byte, start time.Time) (runResult, error) {
	// Our own pipes (rather than exec's copying goroutines) let the call end
	// when the agent exits, even if a grandchild still holds stdout.
	var files []*os.File
	pipe := func() (r, w *os.File, err error) {
		r, w, err = os.Pipe()
		if err == nil {
			files = append(files, r, w)
		}
		return
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	inR, inW, err1 := pipe()
	outR, outW, err2 := pipe()
	errR, errW, err3 := pipe()
	if err := errors.Join(err1, err2, err3); err != nil {
		return runResult{}, &CallError{Kind: repo.ErrInternal, Msg: "create pipes for the agent: " + err.Error()}
	}
	cmd := c.spec.command()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	if err := cmd.Start(); err != nil {
		return runResult{}, &CallError{Kind: repo.ErrInternal, Msg: "start the agent: " + err.Error()}
	}
	pid := cmd.Process.Pid
	// The child has its copies; ours must go so EOF can happen.
	inR.Close()
	outW.Close()
	errW.Close()

	stdinDone := make(chan struct{})
	go func() {
		// EPIPE here means the agent did not read its input; its exit
		// status or answer will say what happened.
		_, _ = inW.Write(stdin)
		inW.Close()
		close(stdinDone)
	}()
	var stderr tailBuffer
	stderrDone := make(chan struct{})
	go func() {
		_, _ = io.Copy(&stderr, errR)
		close(stderrDone)
	}()
	var stdout bytes.Buffer
	overflow := false
	stdoutDone := make(chan struct{})
	go func() {
		n, _ := stdout.ReadFrom(io.LimitReader(outR, c.spec.limit+1))
		if n > c.spec.limit {
			overflow = true
			killGroup(pid)
		}
		close(stdoutDone)
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	var waitErr error
	var ctxErr *CallError
	select {
	case waitErr = <-exited:
	case <-ctx.Done():
		killGroup(pid)
		waitErr = <-exited
		ctxErr = ctxError(ctx, "agent", start)
	}
	// The leader is gone; whatever it left in its group goes too.
	killGroup(pid)
	drain(stdoutDone, outR)
	drain(stderrDone, errR)
	inW.Close()
	<-stdinDone

	res := runResult{stdout: stdout.Bytes(), stderr: stderr.String()}
	switch {
	case ctxErr != nil:
		ctxErr.Stderr = res.stderr
		ctxErr.Partial = excerpt(res.stdout, excerptLimit)
		return res, ctxErr
	case overflow:
		e := tooLarge("agent", res.stdout, c.spec.limit)
		e.Stderr = res.stderr
		return res, e
	case waitErr != nil:
		msg := "agent exited with " + exitDescription(cmd.ProcessState)
		if line := firstLine(res.stderr); line != "" {
			msg += ": " + line
		} else {
			msg += " (stderr was empty)"
		}
		return res, &CallError{Kind: repo.ErrExit, Msg: msg, Stderr: res.stderr, Partial: excerpt(res.stdout, excerptLimit)}
	}
	return res, nil
}

// drain waits for a reader goroutine to see EOF, and after pipeGrace closes
// the pipe under it (something outside the process group still holds it).
func drain(done chan struct{}, r *os.File) {
	t := time.NewTimer(pipeGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		r.Close()
		<-done
	}
}

func (c *Command) parse(stdout []byte, stderr string) (repo.Response, error) {
	resp, err := ParseResponse(stdout)
	if err == nil {
		return resp, nil
	}
	if c.spec.text {
		return repo.Response{Output: strings.TrimRight(string(stdout), "\r\n")}, nil
	}
	var ce *CallError
	if errors.As(err, &ce) {
		ce.Stderr = stderr
		if len(bytes.TrimSpace(stdout)) > 0 && bytes.TrimSpace(stdout)[0] != '{' {
			ce.Msg += " (set agent.output: text to accept plain text)"
		}
	}
	return repo.Response{}, err
}

var _ Adapter = (*Command)(nil)
