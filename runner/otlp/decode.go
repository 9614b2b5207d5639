package otlp

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/goccy/go-json"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// maxRequestBytes bounds one export request, decompressed: exporters send
// batches of at most a few MB.
const maxRequestBytes = 64 << 20

// serveTraces answers POST /v1/traces as the OTLP/HTTP specification says:
// 200 with an empty ExportTraceServiceResponse in the request's encoding,
// 400 for a body that cannot be read, 415 for an encoding it does not know.
//
// The body is decoded as TracesData, whose wire form is that of
// ExportTraceServiceRequest (field 1, repeated ResourceSpans): the collector
// package that declares the request would link gRPC into selfevals.
func (r *Receiver) serveTraces(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST OTLP spans here", http.StatusMethodNotAllowed)
		return
	}
	isJSON, err := encodingOf(req.Header.Get("Content-Type"))
	if err != nil {
		r.rejected.Add(1)
		http.Error(w, err.Error(), http.StatusUnsupportedMediaType)
		return
	}
	body, err := readBody(req)
	if err != nil {
		r.rejected.Add(1)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var td tracepb.TracesData
	if isJSON {
		err = unmarshalJSON(body, &td)
	} else {
		err = proto.Unmarshal(body, &td)
	}
	if err != nil {
		r.rejected.Add(1)
		http.Error(w, "not an OTLP trace export: "+err.Error(), http.StatusBadRequest)
		return
	}
	r.ingest(&td)
	if isJSON {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{}"))
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

// encodingOf tells JSON from protobuf by the Content-Type.
func encodingOf(contentType string) (isJSON bool, err error) {
	mt, _, _ := mime.ParseMediaType(contentType)
	switch mt {
	case "application/x-protobuf", "application/protobuf":
		return false, nil
	case "application/json":
		return true, nil
	}
	return false, fmt.Errorf("content type %q: send application/x-protobuf or application/json", contentType)
}

// readBody reads the body, gunzipping it when Content-Encoding says so.
func readBody(req *http.Request) ([]byte, error) {
	var src io.Reader = req.Body
	switch enc := strings.ToLower(strings.TrimSpace(req.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			return nil, fmt.Errorf("gzip body: %w", err)
		}
		defer zr.Close()
		src = zr
	default:
		return nil, fmt.Errorf("content encoding %q: send gzip or nothing", enc)
	}
	b, err := io.ReadAll(io.LimitReader(src, maxRequestBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the body: %w", err)
	}
	if len(b) > maxRequestBytes {
		return nil, fmt.Errorf("body over %d bytes", maxRequestBytes)
	}
	return b, nil
}

// unmarshalJSON reads the OTLP/JSON encoding. It is protobuf's JSON
// mapping with one exception the specification makes: trace and span IDs
// are hex, not base64. The IDs are rewritten to base64 before protojson
// reads the document.
func unmarshalJSON(body []byte, td *tracepb.TracesData) error {
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return err
	}
	if err := hexIDsToBase64(doc); err != nil {
		return err
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, td)
}

// hexIDsToBase64 rewrites the ID fields of every span and link.
func hexIDsToBase64(doc map[string]any) error {
	for _, rs := range list(doc, "resourceSpans", "resource_spans") {
		for _, ss := range list(rs, "scopeSpans", "scope_spans") {
			for _, sp := range list(ss, "spans") {
				if err := rewriteIDs(sp, "traceId", "trace_id", "spanId", "span_id", "parentSpanId", "parent_span_id"); err != nil {
					return err
				}
				for _, l := range list(sp, "links") {
					if err := rewriteIDs(l, "traceId", "trace_id", "spanId", "span_id"); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// list is the array under the first of keys that obj holds, as objects.
func list(obj any, keys ...string) []map[string]any {
	m, _ := obj.(map[string]any)
	for _, k := range keys {
		if arr, ok := m[k].([]any); ok {
			out := make([]map[string]any, 0, len(arr))
			for _, e := range arr {
				if em, ok := e.(map[string]any); ok {
					out = append(out, em)
				}
			}
			return out
		}
	}
	return nil
}

func rewriteIDs(m map[string]any, keys ...string) error {
	for _, k := range keys {
		s, ok := m[k].(string)
		if !ok || s == "" {
			continue
		}
		b, err := hex.DecodeString(s)
		if err != nil {
			return errors.New(k + ": " + s + " is not a hex ID (OTLP/JSON writes IDs in hex)")
		}
		m[k] = base64.StdEncoding.EncodeToString(b)
	}
	return nil
}
