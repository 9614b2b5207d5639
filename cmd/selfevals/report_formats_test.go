package main

import (
	"context"
	"encoding/xml"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// pingpongRunDir runs the starter experiment (iteration 0 misses both
// cases, iteration 1 passes them) and returns the repository.
func pingpongRunDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	runCLI(t, dir, "init")
	if out, errOut, code := runCLI(t, dir, "run", "evals/experiments/pingpong.yaml", "--no-commit"); code != 0 {
		t.Fatalf("run: exit %d\n%s%s", code, out, errOut)
	}
	return dir
}

func TestReportJUnit(t *testing.T) {
	t.Parallel()
	dir := pingpongRunDir(t)
	out, errOut, code := runCLI(t, dir, "report", "pingpong", "--format", "junit")
	if code != 0 {
		t.Fatalf("exit %d %s", code, errOut)
	}
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Name       string `xml:"name,attr"`
			Tests      int    `xml:"tests,attr"`
			Failures   int    `xml:"failures,attr"`
			Properties []struct {
				Name  string `xml:"name,attr"`
				Value string `xml:"value,attr"`
			} `xml:"properties>property"`
			Cases []struct {
				Name      string `xml:"name,attr"`
				Classname string `xml:"classname,attr"`
				Failure   *struct {
					Message string `xml:"message,attr"`
					Type    string `xml:"type,attr"`
					Text    string `xml:",chardata"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not XML: %v\n%s", err, out)
	}
	if !strings.HasPrefix(out, `<?xml version="1.0" encoding="UTF-8"?>`) || doc.Tests != 8 || doc.Failures != 8 || len(doc.Suites) != 1 {
		t.Fatalf("junit:\n%s", out)
	}
	s := doc.Suites[0]
	props := map[string]string{}
	for _, p := range s.Properties {
		props[p.Name] = p.Value
	}
	if s.Name != "pingpong" || props["iteration"] != "0" || props["pass@1"] != "0" || !strings.HasPrefix(props["run_id"], "run_") {
		t.Errorf("suite %s, properties %v", s.Name, props)
	}
	var names []string
	for _, c := range s.Cases {
		names = append(names, c.Name)
		if c.Classname != "selfevals.pingpong" || c.Failure == nil || c.Failure.Type != "fail" ||
			!strings.Contains(c.Failure.Message, `rules: missing_required_substring: "pong" not found`) || !strings.Contains(c.Failure.Text, "output:\nmiss") {
			t.Errorf("testcase %+v", c)
		}
	}
	if strings.Join(names, "|") != "ping with trailing spaces|ping in a sentence|PING in capitals answers pong|Ping capitalised|ping with a question mark|ping with punctuation|ping answers pong|ping twice" {
		t.Errorf("testcases = %v", names)
	}
}

func TestReportHTML(t *testing.T) {
	t.Parallel()
	dir := pingpongRunDir(t)
	out, errOut, code := runCLI(t, dir, "report", "pingpong", "--format", "html")
	if code != 0 {
		t.Fatalf("exit %d %s", code, errOut)
	}
	for _, want := range []string{"<!DOCTYPE html>", "<style>", "<svg class=\"chart\"", "pingpong baseline", "ping answers pong", `<span class="label fail">fail</span>`, "missing_required_substring"} {
		if !strings.Contains(out, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Self-contained: nothing to fetch (the SVG namespace is a name, not a
	// request; the paging script is inline and requests nothing).
	if m := regexp.MustCompile(`(?i)(src|href)\s*=|<link|@import|url\(|fetch\(|XMLHttpRequest|import\(`).FindString(out); m != "" {
		t.Errorf("the page references something outside itself: %q", m)
	}
	page := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(page, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	screenshot(t, page)
}

// screenshot renders the page in headless Chromium, when it is installed,
// and checks the picture has content.
func screenshot(t *testing.T, page string) {
	const chromium = "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		t.Skip("chromium is not installed (.ci/run installs it with apt-get)")
	}
	tmp := t.TempDir()
	shot := filepath.Join(tmp, "report.png")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir="+filepath.Join(tmp, "profile"),
		"--screenshot="+shot, "--window-size=1200,900", "file://"+page)
	cmd.Env = append(os.Environ(), "HOME="+tmp)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	st, _ := f.Stat()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	b := img.Bounds()
	if b.Dx() != 1200 || b.Dy() != 900 {
		t.Errorf("screenshot is %dx%d", b.Dx(), b.Dy())
	}
	colors := map[[4]uint32]bool{}
	for y := b.Min.Y; y < b.Max.Y && len(colors) < 64; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, a := img.At(x, y).RGBA()
			colors[[4]uint32{r, g, bl, a}] = true
		}
	}
	if len(colors) < 16 || st.Size() < 10_000 {
		t.Errorf("the screenshot looks blank: %d colours, %d bytes", len(colors), st.Size())
	}
}
