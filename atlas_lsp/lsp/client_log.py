"""A logging handler that forwards warnings to the editor as `window/logMessage`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from lsprotocol import types

_LEVELS = {
    logging.ERROR: types.MessageType.Error,
    logging.WARNING: types.MessageType.Warning,
    logging.INFO: types.MessageType.Info,
}


class ClientLogHandler(logging.Handler):
    """Thread-safe: records from any thread are sent from the event loop."""

    def __init__(self, send: Callable[[types.LogMessageParams], None], loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(level=logging.WARNING)
        self._send = send
        self._loop = loop

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("pygls"):
            return  # never echo the protocol layer's own complaints back through the protocol
        kind = _LEVELS.get(record.levelno, types.MessageType.Log)
        if record.levelno >= logging.ERROR:
            kind = types.MessageType.Error
        try:
            params = types.LogMessageParams(type=kind, message=f"atlas: {self.format(record)}")
            self._loop.call_soon_threadsafe(self._send, params)
        except Exception:  # noqa: BLE001 - logging must never raise (e.g. the loop is closed)
            self.handleError(record)
