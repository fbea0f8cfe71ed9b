"""A bare-bones LSP client over pipes: benchmarks drive the real server with it, and tests send what a
well-behaved client library refuses to send."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

SERVER = [sys.executable, "-m", "atlas_lsp"]


class RawLspProcess:
    def __init__(self, args: list[str] | None = None, stderr: Any = None) -> None:
        self.process = subprocess.Popen(
            args or SERVER, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr or sys.stderr
        )
        self._next_id = 0
        self.received: list[dict[str, Any]] = []
        self.arrived: dict[str, float] = {}  # response id -> when its last byte was read from the pipe
        self._inbox: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read_forever, daemon=True).start()

    def _read_forever(self) -> None:
        try:
            while True:
                message = self._read_frame()
                if "id" in message and "method" not in message:
                    self.arrived[str(message["id"])] = time.perf_counter()
                self._inbox.put(message)
        except (EOFError, ValueError, OSError):
            self._inbox.put(None)

    def send_bytes(self, body: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def send(self, message: dict[str, Any]) -> None:
        self.send_bytes(json.dumps({"jsonrpc": "2.0", **message}).encode())

    def read_message(self, timeout: float = 60) -> dict[str, Any]:
        try:
            message = self._inbox.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"nothing from the server in {timeout}s") from None
        if message is None:
            raise EOFError("server closed stdout")
        return message

    def _read_frame(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        length = 0
        while True:
            line = self.process.stdout.readline()
            if not line:
                raise EOFError("server closed stdout")
            if line in (b"\r\n", b"\n"):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return json.loads(self.process.stdout.read(length))

    def _read_until(self, wanted: Callable[[dict[str, Any]], bool], what: str, timeout: float) -> dict[str, Any]:
        """Read messages until ``wanted`` accepts one; answer the server's own requests with null meanwhile."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self.read_message(max(0.1, deadline - time.monotonic()))
            self.received.append(message)
            if "method" in message and "id" in message:
                self.send({"id": message["id"], "result": None})
            elif wanted(message):
                return message
        raise TimeoutError(f"no {what} within {timeout} s")

    def response(self, request_id: Any, timeout: float = 20) -> dict[str, Any]:
        """The response to ``request_id``."""
        return self._read_until(lambda m: m.get("id") == request_id, f"response to {request_id}", timeout)

    def notification(self, method: str, timeout: float = 60) -> dict[str, Any]:
        """The next ``method`` notification."""
        return self._read_until(lambda m: m.get("method") == method, method, timeout)

    def request(self, method: str, params: Any, timeout: float = 120) -> Any:
        """Send a request and wait for its result (raises on an error response)."""
        return self.timed_request(method, params, timeout)[1]

    def timed_request(self, method: str, params: Any, timeout: float = 120) -> tuple[float, Any]:
        """Seconds from writing the request to reading its response's last byte from the pipe (the reader thread
        notes the time, so handing the message to this thread is not counted), and the result."""
        self._next_id += 1
        request_id = f"r{self._next_id}"
        body = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}).encode()
        sent = time.perf_counter()
        self.send_bytes(body)
        answer = self.response(request_id, timeout)
        seconds = self.arrived.pop(request_id, time.perf_counter()) - sent
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return seconds, answer.get("result")

    def notify(self, method: str, params: Any) -> None:
        self.send({"method": method, "params": params})

    def initialize(self, options: dict[str, Any], root_uri: str | None = None, capabilities: Any = None) -> None:
        """initialize + initialized, then wait for the model's final atlas/status (raises unless ready)."""
        params = {"processId": None, "rootUri": root_uri, "capabilities": capabilities or {}}
        self.request("initialize", {**params, "initializationOptions": options})
        self.notify("initialized", {})
        status = self.notification("atlas/status", 300)["params"]
        while status["state"] == "loading":
            status = self.notification("atlas/status", 300)["params"]
        if status["state"] != "ready":
            raise RuntimeError(f"model not ready: {status['message']}")

    def close(self) -> int:
        try:
            self.send({"id": "shutdown", "method": "shutdown"})
            self.response("shutdown", timeout=30)
            self.send({"method": "exit"})
            return self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
