"""pygls's tracebacks for a client's own mistakes stay out of the server's log; the server's faults keep theirs."""

from __future__ import annotations

import logging
import sys

from pygls.exceptions import JsonRpcInternalError, JsonRpcInvalidParams, JsonRpcMethodNotFound

from atlas_lsp.lsp.client_log import CLIENT_ERROR_TRACEBACKS
from atlas_lsp.server import build_server


def _record(error: Exception) -> logging.LogRecord:
    try:
        raise error
    except Exception:  # noqa: BLE001 - the record carries whatever was raised
        return logging.LogRecord("pygls.protocol.json_rpc", logging.ERROR, __file__, 1, "Exception", (), sys.exc_info())


def test_client_errors_are_dropped_and_server_faults_kept() -> None:
    assert not CLIENT_ERROR_TRACEBACKS.filter(_record(JsonRpcInvalidParams("Command name 'x' is not defined")))
    assert not CLIENT_ERROR_TRACEBACKS.filter(_record(JsonRpcMethodNotFound("atlas/nothing")))
    assert CLIENT_ERROR_TRACEBACKS.filter(_record(JsonRpcInternalError("a handler failed")))
    assert CLIENT_ERROR_TRACEBACKS.filter(_record(KeyError("a bug")))
    plain = logging.LogRecord("pygls.protocol.json_rpc", logging.ERROR, __file__, 1, "no traceback", (), None)
    assert CLIENT_ERROR_TRACEBACKS.filter(plain)


def test_the_server_installs_it_on_pygls_json_rpc_logger_once() -> None:
    first, second = build_server(), build_server()
    try:
        filters = logging.getLogger("pygls.protocol.json_rpc").filters
        assert filters.count(CLIENT_ERROR_TRACEBACKS) == 1
    finally:
        first.close_services()
        second.close_services()
