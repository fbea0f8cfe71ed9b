"""FrameReader hands pygls's message loop the same messages pygls's own reader does, one thread hop each."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from typing import Any

from pygls.io_ import run_async

from atlas_lsp.lsp.stdio import FrameReader


class Collecting:
    """The two methods of a pygls protocol that its message loop calls."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    def structure_message(self, data: Any) -> Any:
        return data

    def handle_message(self, message: Any) -> None:
        self.messages.append(message)


def frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def read_all(chunks: list[bytes]) -> list[Any]:
    """Write ``chunks`` into a pipe (with pauses, so reads see them split) and run pygls's loop on FrameReader."""
    read_end, write_end = os.pipe()

    def write() -> None:
        for chunk in chunks:
            os.write(write_end, chunk)
            time.sleep(0.01)
        os.close(write_end)

    threading.Thread(target=write, daemon=True).start()
    protocol = Collecting()
    with os.fdopen(read_end, "rb") as stream:
        asyncio.run(asyncio.wait_for(run_async(threading.Event(), FrameReader(stream), protocol), 10))  # type: ignore[arg-type]
    return protocol.messages


def test_whole_split_and_batched_messages_arrive_in_order() -> None:
    first, second, third = ({"jsonrpc": "2.0", "method": "m", "params": {"n": n, "text": "é" * n}} for n in range(3))
    data = frame(first) + frame(second)  # two messages in one write, as a keystroke's change and request come
    tail = frame(third)
    messages = read_all([data, tail[:7], tail[7:30], tail[30:]])  # the third split mid-header and mid-body
    assert messages == [first, second, third]


def test_other_headers_and_junk_lines_are_skipped_as_pygls_does() -> None:
    message = {"jsonrpc": "2.0", "method": "m"}
    body = json.dumps(message).encode()
    framed = b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n"
    framed += b"Content-Length: %d\r\n\r\n" % len(body) + body
    assert read_all([b"\r\n", framed, frame(message)]) == [message, message]


def test_the_end_of_input_ends_the_loop_even_mid_message() -> None:
    message = {"jsonrpc": "2.0", "method": "m"}
    assert read_all([frame(message), b'Content-Length: 50\r\n\r\n{"jsonrpc"']) == [message]
