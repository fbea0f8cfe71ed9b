"""Reading LSP messages from stdin with one thread hop per message.

pygls's stdin reader hands every read to a thread pool and back: the header line, the blank line and the body
are three round trips through the event loop per message, about a millisecond on a busy 2-core machine. A
keystroke is two messages (didChange, then the completion request), so that was most of a cache hit's latency.
FrameReader's thread reads whole messages (headers and body) and gives each to the loop in one call; pygls's
message loop then reads them from memory through the same `readline`/`readexactly` interface.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
from typing import BinaryIO

logger = logging.getLogger(__name__)
_CONTENT_LENGTH = re.compile(rb"^Content-Length: (\d+)\r\n$")


class FrameReader:
    """pygls's AsyncReader, fed by a daemon thread that reads one whole message at a time.

    The thread reads the file descriptor with os.read, not through the BufferedReader: a daemon thread blocked
    inside a buffered read holds the buffer's lock, and the interpreter aborts at exit when it finds it held.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._fd = stream.fileno()
        self._buffer = bytearray()
        self._pieces: asyncio.Queue[bytes] | None = None

    def _start(self) -> asyncio.Queue[bytes]:
        if self._pieces is None:
            self._pieces = asyncio.Queue()
            loop = asyncio.get_running_loop()
            thread = threading.Thread(target=self._read, args=(loop, self._pieces), name="atlas-stdin", daemon=True)
            thread.start()
        return self._pieces

    async def readline(self) -> bytes:
        return await self._start().get()

    async def readexactly(self, _size: int) -> bytes:
        return await self._start().get()  # the thread read the body whole, with the size its header gave

    def _read(self, loop: asyncio.AbstractEventLoop, pieces: asyncio.Queue[bytes]) -> None:
        def deliver(message: list[bytes]) -> None:
            for piece in message:
                pieces.put_nowait(piece)

        try:
            while True:
                message = self._read_message()
                loop.call_soon_threadsafe(deliver, message)
                if not message[-1]:  # end of input: pygls's loop stops at the empty read
                    return
        except OSError as error:  # stdin closed under us: end of input
            logger.debug("stdin reader stopped: %s", error)
            try:
                loop.call_soon_threadsafe(deliver, [b""])
            except RuntimeError:  # the loop is gone too
                pass
        except RuntimeError:  # the event loop closed: the server is ending
            pass

    def _fill(self) -> bool:
        chunk = os.read(self._fd, 1 << 16)
        self._buffer += chunk
        return bool(chunk)

    def _readline(self) -> bytes:
        while (end := self._buffer.find(b"\n")) < 0:
            if not self._fill():
                line, self._buffer = bytes(self._buffer), bytearray()
                return line  # b"" at the end of input
        line = bytes(self._buffer[: end + 1])
        del self._buffer[: end + 1]
        return line

    def _read_exactly(self, size: int) -> bytes:
        while len(self._buffer) < size and self._fill():
            pass
        body = bytes(self._buffer[:size])
        del self._buffer[:size]
        return body

    def _read_message(self) -> list[bytes]:
        """Header lines up to the blank line, then the body: what pygls's loop will ask for, in that order (it
        reads a body only after a non-zero Content-Length). Ends with b"" at the end of input."""
        pieces: list[bytes] = []
        length = 0
        while True:
            line = self._readline()
            pieces.append(line)
            if not line:
                return pieces
            match = _CONTENT_LENGTH.fullmatch(line)
            if match and not length:
                length = int(match.group(1))
            if length and not line.strip():
                pieces.append(self._read_exactly(length))
                return pieces
