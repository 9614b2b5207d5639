// Command agent is the test agent of the adapters tests. What it does
// depends on input.mode of the request:
//
//	env         answer the env var named by input.text, |, the workdir
//	echo        answer {"output": input.text}
//	stderr      write to stderr, then answer
//	exit        write to stderr and exit 3
//	invalid     print text that is not JSON
//	text        print plain text
//	huge        print an answer of input.size bytes
//	hang        sleep forever
//	grandchild  start a child that holds stdout open, answer, exit
//	crash       (worker) exit without answering
//	wait        sleep input.size milliseconds, then answer (an agent waiting on a model)
//	spin        compute for input.size milliseconds of CPU time, then answer
//
// With -worker it loops over JSON lines; -die-after N makes a worker exit
// on request N+1 without answering. -const answers every line with a fixed
// response without decoding it (for benchmarks). -sleep sleeps forever
// (the grandchild).
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

type request struct {
	Input struct {
		Mode string `json:"mode"`
		Text string `json:"text"`
		Size int    `json:"size"`
	} `json:"input"`
	Parameters map[string]any `json:"parameters"`
}

func main() {
	worker := flag.Bool("worker", false, "speak JSON lines")
	dieAfter := flag.Int("die-after", 0, "worker: exit on request N+1")
	constant := flag.Bool("const", false, "worker: fixed answer")
	sleep := flag.Bool("sleep", false, "sleep forever")
	startup := flag.Duration("startup", 0, "wait this long before reading anything (a slow start)")
	flag.Parse()
	time.Sleep(*startup)
	if *sleep {
		time.Sleep(time.Hour)
		return
	}
	if !*worker {
		data, err := io.ReadAll(os.Stdin)
		if err != nil {
			fmt.Fprintln(os.Stderr, "read stdin:", err)
			os.Exit(1)
		}
		var req request
		if err := json.Unmarshal(data, &req); err != nil {
			fmt.Fprintln(os.Stderr, "bad request:", err)
			os.Exit(2)
		}
		os.Stdout.Write(handle(req))
		return
	}
	in := bufio.NewReaderSize(os.Stdin, 64<<10)
	out := bufio.NewWriterSize(os.Stdout, 64<<10)
	n := 0
	for {
		line, err := in.ReadBytes('\n')
		if err != nil {
			return
		}
		n++
		if *dieAfter > 0 && n > *dieAfter {
			fmt.Fprintln(os.Stderr, "worker giving up after", *dieAfter)
			os.Exit(7)
		}
		if *constant {
			out.WriteString(`{"output":"ok","usage":{"input_tokens":1,"output_tokens":1}}` + "\n")
			out.Flush()
			continue
		}
		var req request
		if err := json.Unmarshal(line, &req); err != nil {
			fmt.Fprintln(os.Stderr, "bad request:", err)
			os.Exit(2)
		}
		if req.Input.Mode == "crash" {
			fmt.Fprintln(os.Stderr, "crashing as asked")
			os.Exit(5)
		}
		resp := handle(req)
		out.Write(resp)
		out.WriteByte('\n')
		out.Flush()
	}
}

func handle(req request) []byte {
	switch req.Input.Mode {
	case "stderr":
		fmt.Fprintln(os.Stderr, "a note on stderr")
	case "exit":
		fmt.Fprintln(os.Stderr, "boom: the model is missing")
		fmt.Fprintln(os.Stderr, "second line")
		os.Exit(3)
	case "invalid":
		return []byte("this is not json {")
	case "text":
		return []byte("plain answer\n")
	case "huge":
		return []byte(`{"output":"` + strings.Repeat("x", req.Input.Size) + `"}`)
	case "hang":
		time.Sleep(time.Hour)
	case "wait":
		time.Sleep(time.Duration(req.Input.Size) * time.Millisecond)
	case "spin":
		spin(time.Duration(req.Input.Size) * time.Millisecond)
	case "env":
		wd, _ := os.Getwd()
		req.Input.Text = os.Getenv(req.Input.Text) + "|" + wd
	case "grandchild":
		self, _ := os.Executable()
		cmd := exec.Command(self, "-sleep")
		cmd.Stdout = os.Stdout
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(4)
		}
		fmt.Fprintf(os.Stderr, "grandchild %d\n", cmd.Process.Pid)
	}
	b, _ := json.Marshal(map[string]any{"output": req.Input.Text, "model": "test-agent", "usage": map[string]int{"input_tokens": 3, "output_tokens": 1}})
	return b
}

// spin keeps a core busy until the process has used d of CPU time.
func spin(d time.Duration) {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	end := cpu() + d
	for x := 0; cpu() < end; x++ {
		for range 10000 {
			x ^= x << 1
		}
	}
}
