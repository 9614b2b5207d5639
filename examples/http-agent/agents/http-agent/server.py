#!/usr/bin/env python3
"""An HTTP agent for selfevals: each case is POSTed as the request JSON and
the response body is the response JSON.

    python3 agents/http-agent/server.py              # http://127.0.0.1:8765/
    python3 agents/http-agent/server.py --port 0     # any free port (printed)

It answers order-status questions. With model_params.use_tool it calls its
lookup_order tool and reports the call in tool_calls (graded by
required_tools); without it, it guesses.
"""
import json
import re
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ORDERS = {"A-1": "shipped", "A-2": "delivered", "B-7": "delayed", "C-3": "cancelled",
          "D-9": "shipped", "E-4": "delivered", "F-5": "returned", "G-8": "delayed"}


def answer(request):
    text = request["input"]["text"]
    use_tool = request["parameters"].get("model_params", {}).get("use_tool", False)
    match = re.search(r"[A-Z]-\d+", text)
    if not use_tool or not match:
        return {"output": "Your order is on its way.", "usage": {"input_tokens": len(text.split()), "output_tokens": 5}}
    order = match.group(0)
    start = time.monotonic()
    status = ORDERS.get(order, "unknown")
    call = {"name": "lookup_order", "arguments": {"order_id": order}, "result": {"status": status},
            "duration_ms": (time.monotonic() - start) * 1000}
    return {"output": f"Order {order} is {status}.", "tool_calls": [call],
            "usage": {"input_tokens": len(text.split()), "output_tokens": 4}}


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        try:
            body = answer(request)
        except (KeyError, TypeError) as e:
            body = {"error": f"bad request: {e!r}"}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass  # one line per case would drown the output


def main():
    port = int(sys.argv[sys.argv.index("--port") + 1]) if "--port" in sys.argv else 8765
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}/", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
