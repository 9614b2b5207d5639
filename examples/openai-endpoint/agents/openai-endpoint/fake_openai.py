#!/usr/bin/env python3
"""A tiny OpenAI-compatible server, so the example runs offline: it answers
POST /v1/chat/completions like vLLM, Ollama or the OpenAI API would.

    python3 agents/openai-endpoint/fake_openai.py            # http://127.0.0.1:8766/v1
    python3 agents/openai-endpoint/fake_openai.py --port 0   # any free port (printed)

It knows a few facts and, like a real model, gets them wrong when the
temperature is high.
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FACTS = {"sky": "blue", "grass": "green", "snow": "white", "coal": "black",
         "banana": "yellow", "tomato": "red", "carrot": "orange", "plum": "purple"}


def complete(body):
    question = body["messages"][-1]["content"].lower()
    answer = next((color for thing, color in FACTS.items() if thing in question), "I am not sure")
    if body.get("temperature", 1) > 0.5:
        answer = "probably grey"  # sampling too hot
    words = sum(len(str(m.get("content", "")).split()) for m in body["messages"])
    return {
        "object": "chat.completion",
        "model": body["model"],
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": answer}}],
        "usage": {"prompt_tokens": words, "completion_tokens": len(answer.split()), "total_tokens": words + len(answer.split())},
    }


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        if self.path.rstrip("/") != "/v1/chat/completions":
            self.send_error(404)
            return
        data = json.dumps(complete(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def main():
    port = int(sys.argv[sys.argv.index("--port") + 1]) if "--port" in sys.argv else 8766
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}/v1", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
