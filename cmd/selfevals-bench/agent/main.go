// Command agent is the loopback agent of selfevals-bench: the cheapest
// agent that speaks the protocol (SPEC §5), so what the benchmark measures is
// the harness. It answers "pong <input.text>" when model_params.level >= 0.5,
// else "miss", after -latency.
//
//	agent -http 127.0.0.1:0   serve POST /agent (and GET /stats: calls so far);
//	                          prints "http://ADDR" on stdout when ready
//	agent -worker             JSON lines on stdin/stdout (agent.worker: true)
//	agent                     one request on stdin, one response on stdout
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/goccy/go-json"
)

type request struct {
	Input struct {
		Text string `json:"text"`
	} `json:"input"`
	Parameters struct {
		ModelParams struct {
			Level float64 `json:"level"`
		} `json:"model_params"`
	} `json:"parameters"`
}

type response struct {
	Output string `json:"output"`
}

func answer(body []byte, latency time.Duration) ([]byte, error) {
	var req request
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	if latency > 0 {
		time.Sleep(latency)
	}
	out := "miss"
	if req.Parameters.ModelParams.Level >= 0.5 {
		out = "pong " + req.Input.Text
	}
	return json.Marshal(response{Output: out})
}

func main() {
	addr := flag.String("http", "", "serve HTTP on this address")
	worker := flag.Bool("worker", false, "speak JSON lines on stdin/stdout")
	latency := flag.Duration("latency", 0, "answer after this long")
	flag.Parse()
	var err error
	switch {
	case *addr != "":
		err = serveHTTP(*addr, *latency)
	case *worker:
		err = serveLines(os.Stdin, os.Stdout, *latency)
	default:
		var body, out []byte
		if body, err = io.ReadAll(os.Stdin); err == nil {
			if out, err = answer(body, *latency); err == nil {
				_, err = os.Stdout.Write(out)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "agent:", err)
		os.Exit(1)
	}
}

func serveHTTP(addr string, latency time.Duration) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	var calls atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("POST /agent", func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		out, err := answer(body, latency)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(out)
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"calls":%d}`, calls.Load())
	})
	fmt.Printf("http://%s\n", ln.Addr())
	os.Stdout.Sync()
	return http.Serve(ln, mux)
}

func serveLines(in io.Reader, out io.Writer, latency time.Duration) error {
	r := bufio.NewReaderSize(in, 64<<10)
	w := bufio.NewWriter(out)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			resp, aerr := answer(line, latency)
			if aerr != nil {
				resp = []byte(fmt.Sprintf(`{"error":%q}`, aerr.Error()))
			}
			w.Write(resp)
			w.WriteByte('\n')
			if err := w.Flush(); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
