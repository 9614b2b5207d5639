// Command agent is the loopback agent of selfevals-bench: the cheapest
// agent that speaks the agent protocol, so what the benchmark measures is
// the harness. It answers "pong <input.text>" when model_params.level >= 0.5,
// else "miss", after -latency.
//
//	agent -http 127.0.0.1:0   serve POST /agent (and GET /stats: calls so far);
//	                          prints "http://ADDR" on stdout when ready
//	      -server net/http    with Go's net/http server instead of fasthttp
//	agent -worker             JSON lines on stdin/stdout (agent.worker: true)
//	agent                     one request on stdin, one response on stdout
//
// Given a traceparent (agent.otlp) and OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
// (command and worker agents), it exports one chat span per call before it
// answers, as an OpenTelemetry SDK with a simple span processor would
// (otlp.go).
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
	"github.com/valyala/fasthttp"
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
	Metadata struct {
		TraceParent string `json:"traceparent"`
	} `json:"metadata"`
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
	if err := exportSpan(req.Metadata.TraceParent); err != nil {
		return nil, err
	}
	return json.Marshal(response{Output: out})
}

func main() {
	addr := flag.String("http", "", "serve HTTP on this address")
	worker := flag.Bool("worker", false, "speak JSON lines on stdin/stdout")
	latency := flag.Duration("latency", 0, "answer after this long")
	server := flag.String("server", "fasthttp", "HTTP server: fasthttp (the cheapest per request) or net/http")
	flag.Parse()
	var err error
	switch {
	case *addr != "" && *server == "net/http":
		err = serveNetHTTP(*addr, *latency)
	case *addr != "" && *server == "fasthttp":
		err = serveFastHTTP(*addr, *latency)
	case *addr != "":
		err = fmt.Errorf("-server %q: want fasthttp or net/http", *server)
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

// listen binds addr and announces the URL on stdout, which the bench waits for.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	fmt.Printf("http://%s\n", ln.Addr())
	os.Stdout.Sync()
	return ln, nil
}

// serveFastHTTP is the default: the loopback agent shares the machine's cores
// with selfevals, so the less CPU it spends per request the more the
// benchmark measures the harness.
func serveFastHTTP(addr string, latency time.Duration) error {
	ln, err := listen(addr)
	if err != nil {
		return err
	}
	var calls atomic.Int64
	handler := func(ctx *fasthttp.RequestCtx) {
		switch {
		case ctx.IsPost() && string(ctx.Path()) == "/agent":
			calls.Add(1)
			out, err := answer(ctx.PostBody(), latency)
			if err != nil {
				ctx.Error(err.Error(), fasthttp.StatusBadRequest)
				return
			}
			ctx.SetContentType("application/json")
			ctx.SetBody(out)
		case ctx.IsGet() && string(ctx.Path()) == "/stats":
			fmt.Fprintf(ctx, `{"calls":%d}`, calls.Load())
		default:
			ctx.Error("not found", fasthttp.StatusNotFound)
		}
	}
	srv := &fasthttp.Server{Handler: handler, Concurrency: 1 << 16}
	return srv.Serve(ln)
}

func serveNetHTTP(addr string, latency time.Duration) error {
	ln, err := listen(addr)
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
