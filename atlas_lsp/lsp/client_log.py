"""A logging handler that forwards warnings to the editor as `window/logMessage`, and a filter that keeps pygls's
tracebacks for the client's own mistakes out of the log."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from lsprotocol import types
from pygls.exceptions import (
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
    JsonRpcMethodNotFound,
    JsonRpcParseError,
    JsonRpcRequestCancelled,
)

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


CLIENT_ERRORS = (
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
    JsonRpcMethodNotFound,
    JsonRpcParseError,
    JsonRpcRequestCancelled,
)


class ClientErrorTracebacks(logging.Filter):
    """pygls logs a traceback at ERROR for every request it answers with an error of the client's making (a command
    the server does not have, params that do not decode). The response carries the error and the server logs it in
    one line (`AtlasLanguageServer.report_server_error`), so those records are dropped: a traceback in the log then
    means a fault of the server's. Installed on pygls's JSON-RPC logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, CLIENT_ERRORS)


CLIENT_ERROR_TRACEBACKS = ClientErrorTracebacks()  # one instance: adding it again to the logger is a no-op
