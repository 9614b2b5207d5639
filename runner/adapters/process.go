package adapters

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/goccy/go-json"
	"github.com/selfevals/selfevals/repo"
)

// stderrLimit is how much of an agent's stderr is kept: the tail, since the
// last lines usually say what went wrong.
const stderrLimit = 4 << 10

// processSpec is a command agent resolved once at construction: the binary
// found, ${NAME} expanded, the environment merged.
type processSpec struct {
	path  string   // absolute path of argv[0]
	argv  []string // as written in the spec
	dir   string
	env   []string
	text  bool // agent.output: text
	limit int64
}

func newProcessSpec(agent repo.Agent, opts Options) (*processSpec, error) {
	argv := agent.Command
	if argv[0] == "" {
		return nil, repo.Userf("agent.command: the first element must be the program to run")
	}
	switch agent.Output {
	case "", "json", "text":
	default:
		return nil, repo.Userf("agent.output: %q is not json or text", agent.Output)
	}
	root, err := filepath.Abs(opts.RepoRoot)
	if err != nil {
		return nil, fmt.Errorf("agent: resolve repository root: %w", err)
	}
	dir := root
	if agent.Workdir != "" {
		dir = agent.Workdir
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(root, dir)
		}
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return nil, repo.Userf("agent.workdir: %s is not a directory (it resolves against the repository root %s)", agent.Workdir, root)
		}
	}
	var path string
	if strings.ContainsRune(argv[0], filepath.Separator) {
		// A path is relative to the repository root, not to wherever
		// selfevals happens to be started.
		path = argv[0]
		if !filepath.IsAbs(path) {
			path = filepath.Join(root, path)
		}
		fi, err := os.Stat(path)
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return nil, repo.Userf("agent.command: %s is not an executable file (relative paths resolve against the repository root %s; check the path and chmod +x)", argv[0], root)
		}
	} else {
		path, err = exec.LookPath(argv[0])
		if err != nil {
			return nil, repo.Userf("agent.command: %s was not found in PATH; install it or give its path", argv[0])
		}
	}
	env, err := mergeEnv(overlay(opts.Environ, opts.OTLPEnv), agent.Env, opts.LookupEnv)
	if err != nil {
		return nil, err
	}
	return &processSpec{path: path, argv: argv, dir: dir, env: env, text: agent.Output == "text", limit: agent.OutputLimit()}, nil
}

// mergeEnv overlays the agent's env (with ${NAME} expanded) on base.
func mergeEnv(base []string, extra map[string]string, lookup func(string) (string, bool)) ([]string, error) {
	if len(extra) == 0 {
		return base, nil
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	env := make([]string, 0, len(base)+len(extra))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if _, over := extra[k]; !over {
			env = append(env, kv)
		}
	}
	for _, k := range keys {
		v, err := expand(extra[k], "agent.env."+k, lookup)
		if err != nil {
			return nil, err
		}
		env = append(env, k+"="+v)
	}
	return env, nil
}

// overlay returns base with the KEY=value entries of extra added, each
// replacing an entry of base with the same key.
func overlay(base, extra []string) []string {
	if len(extra) == 0 {
		return base
	}
	keys := make(map[string]bool, len(extra))
	for _, kv := range extra {
		k, _, _ := strings.Cut(kv, "=")
		keys[k] = true
	}
	out := make([]string, 0, len(base)+len(extra))
	for _, kv := range base {
		if k, _, _ := strings.Cut(kv, "="); !keys[k] {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}

// command builds an exec.Cmd in its own process group, so killing the group
// also kills whatever the agent spawned. A call with a traceparent (agent.otlp)
// hands it over as TRACEPARENT, with an empty TRACESTATE: one inherited
// from selfevals' own environment belongs to another trace.
func (p *processSpec) command(traceparent string) *exec.Cmd {
	env := p.env
	if traceparent != "" {
		env = overlay(env, []string{"TRACEPARENT=" + traceparent, "TRACESTATE="})
	}
	cmd := &exec.Cmd{Path: p.path, Args: p.argv, Dir: p.dir, Env: env}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// killGroup kills the process group led by pid. ESRCH (already gone) is
// fine.
func killGroup(pid int) {
	if pid > 0 {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
}

// exitDescription says how a process ended: "status 3" or "signal killed".
func exitDescription(ps *os.ProcessState) string {
	if ps == nil {
		return "unknown status"
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "signal " + ws.Signal().String()
	}
	return fmt.Sprintf("status %d", ps.ExitCode())
}

// tailBuffer keeps the last stderrLimit bytes written to it.
type tailBuffer struct {
	mu      sync.Mutex
	buf     []byte
	dropped int64
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if len(p) > stderrLimit {
		t.dropped += int64(len(t.buf) + len(p) - stderrLimit)
		t.buf = append(t.buf[:0], p[len(p)-stderrLimit:]...)
		return n, nil
	}
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - stderrLimit; over > 0 {
		t.dropped += int64(over)
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return n, nil
}

// String is the kept tail, marked when the start was cut.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.ToValidUTF8(string(t.buf), "\uFFFD")
	if t.dropped > 0 {
		s = fmt.Sprintf("…[%d earlier bytes cut]\n", t.dropped) + s
	}
	return s
}

func (t *tailBuffer) Reset() {
	t.mu.Lock()
	t.buf, t.dropped = t.buf[:0], 0
	t.mu.Unlock()
}

// reqBuf is a pooled request encoding: the encoder and its buffer are
// reused across calls.
type reqBuf struct {
	bytes.Buffer
	enc *json.Encoder
}

var reqBufPool = sync.Pool{New: func() any {
	b := &reqBuf{}
	b.enc = json.NewEncoder(&b.Buffer)
	b.enc.SetEscapeHTML(false)
	return b
}}

// encodeRequest writes req as one JSON line (compact, ending in \n).
func encodeRequest(v any) (*reqBuf, error) {
	b := reqBufPool.Get().(*reqBuf)
	b.Reset()
	if req, ok := v.(*repo.Request); ok {
		out, err := req.AppendJSON(b.AvailableBuffer())
		if err != nil {
			b.release()
			return nil, &CallError{Kind: repo.ErrInternal, Msg: "encode the agent request: " + err.Error()}
		}
		b.Write(out)
		return b, nil
	}
	if err := b.enc.Encode(v); err != nil {
		b.release()
		return nil, &CallError{Kind: repo.ErrInternal, Msg: "encode the agent request: " + err.Error()}
	}
	return b, nil
}

func (b *reqBuf) release() {
	if b.Cap() <= 1<<20 {
		reqBufPool.Put(b)
	}
}

// truncatedMarker ends the Partial text of an answer cut at the output cap.
func truncatedMarker(limit int64) string {
	return fmt.Sprintf("…[truncated at %d bytes]", limit)
}

func tooLarge(what string, partial []byte, limit int64) *CallError {
	if int64(len(partial)) > limit {
		partial = partial[:limit]
	}
	return &CallError{
		Kind:    repo.ErrTooLarge,
		Msg:     fmt.Sprintf("%s answered more than agent.max_output_bytes (%d bytes); raise the limit or shorten the answer", what, limit),
		Partial: strings.ToValidUTF8(string(partial), "\uFFFD") + truncatedMarker(limit),
	}
}
