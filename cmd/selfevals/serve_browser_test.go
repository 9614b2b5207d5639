package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

const chromiumPath = "/usr/bin/chromium"

// cdp is a minimal client of the Chrome DevTools Protocol over one page's
// websocket: send a command, wait for its reply, ignore events.
type cdp struct {
	ws *websocket.Conn
	id int
}

func (c *cdp) call(t *testing.T, method string, params any) json.RawMessage {
	t.Helper()
	c.id++
	msg, _ := json.Marshal(map[string]any{"id": c.id, "method": method, "params": params})
	c.ws.SetDeadline(time.Now().Add(15 * time.Second))
	if err := websocket.Message.Send(c.ws, string(msg)); err != nil {
		t.Fatalf("cdp %s: %v", method, err)
	}
	for {
		var raw string
		if err := websocket.Message.Receive(c.ws, &raw); err != nil {
			t.Fatalf("cdp %s: %v", method, err)
		}
		var reply struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal([]byte(raw), &reply) != nil || reply.ID != c.id {
			continue // an event
		}
		if reply.Error != nil {
			t.Fatalf("cdp %s: %s", method, reply.Error.Message)
		}
		return reply.Result
	}
}

// eval runs a JavaScript expression in the page and decodes its value.
func (c *cdp) eval(t *testing.T, expr string, v any) {
	t.Helper()
	res := c.call(t, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true})
	var out struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
	}
	if err := json.Unmarshal(res, &out); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out.Result.Value, v); err != nil {
		t.Fatalf("eval %s: %v (%s)", expr, err, res)
	}
}

func (c *cdp) navigate(t *testing.T, u string) {
	t.Helper()
	c.call(t, "Page.navigate", map[string]any{"url": u})
	c.waitFor(t, u)
}

// waitFor waits until the page at u has loaded.
func (c *cdp) waitFor(t *testing.T, u string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var state string
		c.eval(t, "document.readyState + ' ' + location.href", &state)
		if strings.HasPrefix(state, "complete ") && strings.HasSuffix(state, u) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not load", u)
}

func (c *cdp) screenshot(t *testing.T, path string) {
	t.Helper()
	res := c.call(t, "Page.captureScreenshot", map[string]any{"format": "png"})
	var out struct {
		Data string `json:"data"`
	}
	json.Unmarshal(res, &out)
	png, err := base64.StdEncoding.DecodeString(out.Data)
	if err != nil || len(png) < 1000 {
		t.Fatalf("screenshot: %v (%d bytes)", err, len(png))
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// startChromium starts headless Chromium with a DevTools port and returns
// the port's HTTP address.
func startChromium(t *testing.T) string {
	t.Helper()
	profile := t.TempDir()
	cmd := exec.Command(chromiumPath, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--user-data-dir="+profile, "--remote-debugging-port=0", "--remote-allow-origins=*", "--window-size=1280,900", "about:blank")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the group Chromium's helpers run in
		cmd.Wait()
	})
	found := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`DevTools listening on ws://([^/]+)/`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case addr := <-found:
		return addr
	case <-time.After(15 * time.Second):
		t.Fatal("chromium did not open its DevTools port")
	}
	return ""
}

func openPage(t *testing.T, devtools, u string) *cdp {
	t.Helper()
	req, _ := http.NewRequest("PUT", "http://"+devtools+"/json/new?"+url.QueryEscape(u), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var target struct {
		WS string `json:"webSocketDebuggerUrl"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&target); err != nil || target.WS == "" {
		t.Fatalf("new target: %v %+v", err, target)
	}
	ws, err := websocket.Dial(target.WS, "", "http://127.0.0.1/")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	c := &cdp{ws: ws}
	c.call(t, "Emulation.setDeviceMetricsOverride", map[string]any{"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false})
	return c
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v\n%s", u, err, b)
	}
}

// End to end in a real browser: `selfevals serve` in one process, `selfevals
// run` of a slow command agent in another, and the live page in headless
// Chromium showing span rows while the run is going and its final state
// after it ends, without a reload. Screenshots of the experiment and trace
// pages are kept as artifacts.
func TestServeLiveRunInChromium(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skip("no " + chromiumPath + " (.ci/run installs it)")
	}
	if testing.Short() {
		t.Skip("browser test")
	}
	const cases, parallel = 20, 2
	dir := t.TempDir()
	spec := fmt.Sprintf(`experiment:
  name: slow agent
  goal: watch a run live
  target:
    primary: {name: pass@1, operator: ">=", value: 0.5}
  search_space:
    model_params:
      level: [0.0, 1.0]
  run: {parallelism: %d, cache: false, timeout: 30s}
dataset:
  cases_path: ../datasets/slow.jsonl
agent:
  command: [%s]
  env: {SLEEP_MS: "150"}
`, parallel, countAgentBin)
	var ds bytes.Buffer
	for i := range cases {
		fmt.Fprintf(&ds, `{"name":"case %02d","input":{"text":"ping %d"},"expected":{"must_include":["pong"]}}`+"\n", i, i)
	}
	writeTree(t, dir, map[string]string{"evals/selfevals.yaml": "name: browser-test\n", "evals/experiments/slow.yaml": spec, "evals/datasets/slow.jsonl": ds.String()})

	// serve, on a free loopback port.
	serve := selfevals(dir, "serve", "--addr", "127.0.0.1:0")
	serveOut, _ := serve.StdoutPipe()
	var serveErr bytes.Buffer
	serve.Stderr = &serveErr
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	var serveWaitErr error
	go func() { serveWaitErr = serve.Wait(); close(served) }()
	t.Cleanup(func() {
		serve.Process.Kill()
		<-served
	})
	line, err := bufio.NewReader(serveOut).ReadString('\n')
	if err != nil {
		t.Fatalf("serve printed nothing: %v %s", err, serveErr.String())
	}
	base := regexp.MustCompile(`http://127\.0\.0\.1:\d+/`).FindString(line)
	if base == "" {
		t.Fatalf("no URL in %q", line)
	}

	devtools := startChromium(t)

	// The run, in its own process.
	run := selfevals(dir, "run", "evals/experiments/slow.yaml", "--no-commit")
	var runOut bytes.Buffer
	run.Stdout, run.Stderr = &runOut, &runOut
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	ran := make(chan struct{})
	var runWaitErr error
	go func() { runWaitErr = run.Wait(); close(ran) }()
	t.Cleanup(func() {
		select {
		case <-ran:
		default:
			run.Process.Kill()
			<-ran
		}
	})

	var runID string
	for deadline := time.Now().Add(10 * time.Second); runID == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var active []struct {
			RunID string `json:"run_id"`
		}
		getJSON(t, base+"api/runs/active", &active)
		if len(active) == 1 {
			runID = active[0].RunID
		}
	}
	if runID == "" {
		t.Fatalf("the run never showed as active\n%s", runOut.String())
	}

	page := openPage(t, devtools, base+"runs/"+runID)
	type pageState struct {
		Rows  int    `json:"rows"`
		State string `json:"state"`
		Its   int    `json:"its"`
	}
	const probe = `JSON.stringify({rows: document.querySelectorAll('#spans tr').length, state: (document.getElementById('state')||{}).textContent || '', its: document.querySelectorAll('#iterations tbody tr').length})`
	read := func() pageState {
		var s string
		page.eval(t, probe, &s)
		var ps pageState
		json.Unmarshal([]byte(s), &ps)
		return ps
	}

	// Rows appear while the run is still going, without a reload.
	var firstLive pageState
	seenGrowth := false
	runEnded := false
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline) && !runEnded; time.Sleep(100 * time.Millisecond) {
		ps := read()
		select {
		case <-ran:
			runEnded = true
			continue // this reading may be after the end
		default:
		}
		if ps.Rows > 0 && ps.State == "running" {
			if firstLive.Rows == 0 {
				firstLive = ps
				t.Logf("live: %d span rows while the run is in progress", ps.Rows)
			} else if ps.Rows > firstLive.Rows {
				seenGrowth = true
			}
		}
		if seenGrowth {
			break
		}
	}
	if firstLive.Rows == 0 {
		t.Fatalf("no span row appeared before the run ended (%+v)", read())
	}
	if !seenGrowth {
		t.Errorf("the rows did not grow while the page stayed open (first %d)", firstLive.Rows)
	}

	if !runEnded {
		select {
		case <-ran:
		case <-time.After(30 * time.Second):
			t.Fatal("the run did not end")
		}
	}
	if runWaitErr != nil {
		t.Fatalf("run: %v\n%s", runWaitErr, runOut.String())
	}
	// The final state arrives through the stream's complete event.
	var final pageState
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if final = read(); final.State == "completed" && final.Rows == 2*cases && final.Its == 2 {
			break
		}
	}
	if final.State != "completed" || final.Rows != 2*cases || final.Its != 2 {
		t.Fatalf("after the run: %+v, want completed with %d rows and 2 iterations", final, 2*cases)
	}
	var terminated string
	page.eval(t, `document.getElementById('terminated').textContent`, &terminated)
	if terminated == "" {
		t.Error("the page does not say why the run ended")
	}

	// The finished run a page at a time: 15 rows, then the next 15 by its
	// "older" link, then the last 10 and no further link; every call once.
	page.navigate(t, base+"runs/"+runID+"?limit=15")
	const pageProbe = `JSON.stringify({rows: Array.from(document.querySelectorAll('#spans tr a')).map(a => a.getAttribute('href')), older: !!document.getElementById('page-older'), newer: !!document.getElementById('page-newer'), total: (document.getElementById('page-total')||{}).textContent})`
	type pageRows struct {
		Rows         []string `json:"rows"`
		Older, Newer bool
		Total        string `json:"total"`
	}
	seen := map[string]bool{}
	for i, want := range []int{15, 15, 10} {
		var raw string
		page.eval(t, pageProbe, &raw)
		var pr pageRows
		json.Unmarshal([]byte(raw), &pr)
		if len(pr.Rows) != want || pr.Older != (i < 2) || pr.Newer != (i > 0) || pr.Total != fmt.Sprint(2*cases) {
			t.Fatalf("page %d of the run: %+v, want %d rows", i+1, pr, want)
		}
		for _, h := range pr.Rows {
			if seen[h] {
				t.Errorf("call %s is on two pages", h)
			}
			seen[h] = true
		}
		if pr.Older {
			next := base + "runs/" + runID + fmt.Sprintf("?offset=%d&limit=15", 15*(i+1))
			page.call(t, "Runtime.evaluate", map[string]any{"expression": "document.getElementById('page-older').click()"})
			page.waitFor(t, next)
		}
	}
	if len(seen) != 2*cases {
		t.Errorf("the pages showed %d distinct calls, want %d", len(seen), 2*cases)
	}

	// Screenshots of the experiment and trace pages.
	artifacts := os.Getenv("SELFEVALS_TEST_ARTIFACTS")
	if artifacts == "" {
		artifacts, err = os.MkdirTemp("", "selfevals-serve-artifacts-")
		if err != nil {
			t.Fatal(err)
		}
	}
	page.navigate(t, base+"experiments/slow")
	var chart int
	page.eval(t, `document.querySelectorAll('svg.chart circle.pt').length`, &chart)
	if chart != 2 {
		t.Errorf("the experiment chart has %d points, want 2", chart)
	}
	page.screenshot(t, filepath.Join(artifacts, "experiment.png"))
	var it struct {
		Calls []struct {
			TraceID string `json:"trace_id"`
		} `json:"calls"`
	}
	getJSON(t, base+"api/iterations/"+runID+":1", &it)
	if len(it.Calls) == 0 {
		t.Fatal("iteration 1 has no calls")
	}
	page.navigate(t, base+"traces/"+it.Calls[0].TraceID)
	var spans int
	page.eval(t, `document.querySelectorAll('#spantree details.span').length`, &spans)
	if spans < 1 {
		t.Error("the trace page shows no span")
	}
	page.screenshot(t, filepath.Join(artifacts, "trace.png"))

	// Ctrl-C stops serve cleanly.
	serve.Process.Signal(os.Interrupt)
	select {
	case <-served:
		if serveWaitErr != nil {
			t.Errorf("serve after Ctrl-C: %v\n%s", serveWaitErr, serveErr.String())
		}
	case <-time.After(10 * time.Second):
		t.Error("serve did not stop on Ctrl-C")
	}
}
