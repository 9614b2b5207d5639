package main

import (
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/selfevals/selfevals/repo"
)

// progress reports a run's progress on stderr: a live line on a terminal,
// plain lines every few seconds otherwise (CI logs).
type progress struct {
	io      *IOStreams
	slug    string
	done    atomic.Int64
	total   atomic.Int64
	index   atomic.Int64
	quit    chan struct{}
	stopped chan struct{}
	// started is when the current iteration started (UnixNano): its
	// calls, counted in done, are what the rate divides.
	started atomic.Int64
}

func newProgress(io *IOStreams, slug string) *progress {
	p := &progress{io: io, slug: slug, quit: make(chan struct{}), stopped: make(chan struct{})}
	p.started.Store(time.Now().UnixNano())
	go p.loop()
	return p
}

func (p *progress) iteration(index int, hypothesis string, calls int) {
	p.index.Store(int64(index))
	p.started.Store(time.Now().UnixNano())
	p.done.Store(0)
	p.total.Store(int64(calls))
	p.clearLine()
	fmt.Fprintf(p.io.ErrOut, "%s: iteration %d: %s (%d calls)\n", p.slug, index, hypothesis, calls)
}

func (p *progress) result() { p.done.Add(1) }

func (p *progress) decided(s *repo.IterationSummary) {
	p.clearLine()
	if s.Decision.Outcome == "" { // a shard's: merge decides
		fmt.Fprintf(p.io.ErrOut, "%s: iteration %d: primary %.4g — %s\n", p.slug, s.Index, s.Primary, s.Decision.Rationale)
		return
	}
	fmt.Fprintf(p.io.ErrOut, "%s: iteration %d: %s — %s\n", p.slug, s.Index, s.Decision.Outcome, s.Decision.Rationale)
}

func (p *progress) clearLine() {
	if p.io.ErrTTY {
		fmt.Fprint(p.io.ErrOut, "\r\033[K")
	}
}

func (p *progress) loop() {
	defer close(p.stopped)
	every := 5 * time.Second
	if p.io.ErrTTY {
		every = 100 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.quit:
			p.clearLine()
			return
		case <-t.C:
			done, total := p.done.Load(), p.total.Load()
			if total == 0 {
				continue
			}
			elapsed := time.Since(time.Unix(0, p.started.Load()))
			line := fmt.Sprintf("%s: iteration %d: %d/%d calls (%s)", p.slug, p.index.Load(), done, total, rate(done, elapsed))
			if p.io.ErrTTY {
				fmt.Fprintf(p.io.ErrOut, "\r\033[K%s %s", bar(done, total, 24), line)
			} else if done < total {
				fmt.Fprintln(p.io.ErrOut, line)
			}
		}
	}
}

func (p *progress) stop() {
	close(p.quit)
	<-p.stopped
}

func bar(done, total int64, width int) string {
	filled := int(float64(width) * float64(done) / float64(total))
	filled = min(max(filled, 0), width)
	b := make([]rune, width)
	for i := range b {
		if i < filled {
			b[i] = '█'
		} else {
			b[i] = '░'
		}
	}
	return "[" + string(b) + "]"
}

// rate is how fast calls finish, in words that stay readable when they are
// slow: calls a second from one a second up, seconds a call below (an LLM
// agent often takes several seconds), never "0/s".
func rate(done int64, elapsed time.Duration) string {
	secs := elapsed.Seconds()
	switch perSec := float64(done) / secs; {
	case done == 0:
		return "no call finished yet"
	case perSec >= 10:
		return strconv.FormatFloat(perSec, 'f', 0, 64) + "/s"
	case perSec >= 1:
		return strconv.FormatFloat(perSec, 'f', 1, 64) + "/s"
	default:
		return strconv.FormatFloat(secs/float64(done), 'f', 1, 64) + " s/call"
	}
}
