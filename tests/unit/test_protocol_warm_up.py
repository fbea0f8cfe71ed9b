"""The protocol's start-up warm-up builds the typing path's converters and sends nothing."""

from __future__ import annotations

from atlas_lsp.server import build_server


def test_warm_up_sends_nothing() -> None:
    server = build_server()
    sent: list[object] = []
    server.protocol._send_data = sent.append  # type: ignore[method-assign]
    server.protocol.warm_up()
    assert sent == []
    server.close_services()
