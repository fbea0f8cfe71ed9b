"""A real OpenAI-compatible server on loopback for the tests: llama-cpp-python's own (`llama_cpp.server`).

Run as a program (`python -m tests.support.openai_server MODEL PORT [API_KEY]`) it serves MODEL the way
`python -m llama_cpp.server` does, with two settings the tests need: weight repacking off (llama-cpp-python 0.3.36
crashes in llama_decode on AVX-512/AMX CPUs with it) and `interrupt_requests` off (else a second request cuts the
first one's stream short, which would truncate concurrent solve candidates).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class OpenAIServer:
    """One `llama_cpp.server` child process; `kill` and `start` again on the same port to test recovery."""

    def __init__(self, model: str, port: int | None = None, api_key: str | None = None) -> None:
        self.model = model
        self.port = port or free_port()
        self.api_key = api_key
        self.process: subprocess.Popen[bytes] | None = None
        self.log = Path(os.environ.get("TMPDIR", "/tmp")) / f"atlas-openai-server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> OpenAIServer:
        command = [sys.executable, "-m", "tests.support.openai_server", self.model, str(self.port)]
        if self.api_key:
            command.append(self.api_key)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=log, start_new_session=True)
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the test server exited with {self.process.returncode}: {self.log.read_text()[-2000:]}"
                )
            try:
                if httpx.get(f"{self.url}/v1/models", headers=headers, timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"the test server did not answer within {timeout} s: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL, as a crashed or unplugged server: no goodbye on open connections."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.process = None


def main() -> None:
    import llama_cpp
    import uvicorn
    from llama_cpp.server.app import create_app
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    from atlas_lsp.model.llama import model_params_override

    model, port = sys.argv[1], int(sys.argv[2])
    api_key = sys.argv[3] if len(sys.argv) > 3 else None
    server = ServerSettings(host="127.0.0.1", port=port, api_key=api_key, interrupt_requests=False)
    settings = ModelSettings(model=model, model_alias=Path(model).stem, n_ctx=4096, verbose=False)
    with model_params_override(llama_cpp, use_extra_bufts=False):
        app = create_app(server_settings=server, model_settings=[settings])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
