"""A scripted OpenAI-compatible endpoint for end-to-end tests of the loop's logic over LSP: it answers each
generation request with the next queued reply (streamed like a real server) and records every request it got.

The real atlas-lsp server talks to it through its real OpenAI backend, so no test-only code runs in the server.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ScriptedEndpoint:
    """``llama_server=True`` adds llama-server's own routes: /props, /tokenize (one token per character, so no FIM
    markers are found in its vocabulary) and /infill (which fills in the middle itself)."""

    def __init__(self, replies: list[str], llama_server: bool = False) -> None:
        self.replies = list(replies)
        self.llama_server = llama_server
        self.requests: list[dict[str, Any]] = []
        self.infill_requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _next_reply(self, body: dict[str, Any]) -> str:
        with self._lock:
            self.requests.append(body)
            return self.replies.pop(0) if self.replies else ""

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:  # quiet
                return

            def _json(self, payload: Any, status: int = 200) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/v1/models":
                    self._json({"object": "list", "data": [{"id": "scripted", "object": "model"}]})
                elif self.path == "/props" and endpoint.llama_server:
                    self._json({"default_generation_settings": {"n_ctx": 2048}})
                else:
                    self._json({"error": "not found"}, 404)

            def _infill(self, body: dict[str, Any]) -> None:
                if body.get("n_predict") == 0:  # the probe
                    self._json({"content": "", "stop": True})
                    return
                with endpoint._lock:
                    endpoint.infill_requests.append(body)
                    reply = endpoint.replies.pop(0) if endpoint.replies else ""
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for piece in [reply[i : i + 4] for i in range(0, len(reply), 4)]:
                    self.wfile.write(f"data: {json.dumps({'content': piece, 'stop': False})}\n\n".encode())
                last = {"content": "", "stop": True, "stop_type": "eos", "timings": {"cache_n": 7, "prompt_n": 3}}
                self.wfile.write(f"data: {json.dumps(last)}\n\n".encode())

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if endpoint.llama_server and self.path == "/tokenize":
                    self._json({"tokens": list(range(len(str(body.get("content", "")))))})
                    return
                if endpoint.llama_server and self.path == "/infill":
                    self._infill(body)
                    return
                if self.path not in ("/v1/chat/completions", "/v1/completions"):
                    self._json({"error": "not found"}, 404)
                    return
                reply = endpoint._next_reply(body)
                chat = self.path == "/v1/chat/completions"
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for piece in [reply[i : i + 8] for i in range(0, len(reply), 8)]:
                    choice = {"index": 0, "delta": {"content": piece}} if chat else {"index": 0, "text": piece}
                    self.wfile.write(f"data: {json.dumps({'choices': [choice]})}\n\n".encode())
                done = {"index": 0, "finish_reason": "stop", **({"delta": {}} if chat else {"text": ""})}
                self.wfile.write(f"data: {json.dumps({'choices': [done]})}\n\ndata: [DONE]\n\n".encode())

        return Handler

    @contextmanager
    def running(self) -> Iterator[ScriptedEndpoint]:
        self._thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
