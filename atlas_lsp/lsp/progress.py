"""Work-done progress that never makes the work wait on the client.

The token is created in the background: the work starts at once, `begin` goes out (with the latest message) as soon
as the client has answered `window/workDoneProgress/create`, and work that ended meanwhile is ended right after.
Some clients answer late (eglot while it is busy) or never (lsp-mode 8); neither delays a model load or a solve.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from lsprotocol import types

if TYPE_CHECKING:
    from atlas_lsp.server import AtlasLanguageServer

logger = logging.getLogger(__name__)


class BackgroundProgress:
    def __init__(
        self,
        ls: AtlasLanguageServer,
        token: str,
        title: str,
        cancellable: bool = False,
        on_cancel: Callable[[], None] | None = None,
        percentage: int | None = None,
    ) -> None:
        self._ls = ls
        self.token = token
        self._title = title
        self._cancellable = cancellable
        self._on_cancel = on_cancel
        self._latest: tuple[str | None, int | None] = (None, percentage)
        self._created = False
        self._outcome: str | None = None
        self._loop = asyncio.get_running_loop()
        window = ls.client_capabilities.window
        self.supported = bool(window and window.work_done_progress)
        if self.supported:
            ls.run_in_background(self._create())

    async def _create(self) -> None:
        try:
            await self._ls.work_done_progress.create_async(self.token)
        except Exception as error:  # noqa: BLE001 - progress is a courtesy; the work goes on without it
            logger.info("no progress for %s: %s", self._title, error)
            return
        self._created = True
        message, percentage = self._latest
        self._ls.work_done_progress.begin(
            self.token,
            types.WorkDoneProgressBegin(
                title=self._title, cancellable=self._cancellable, message=message, percentage=percentage
            ),
        )
        future = self._ls.work_done_progress.tokens.get(self.token)
        if future is not None and self._on_cancel is not None:  # the editor's Cancel button cancels this future
            on_cancel = self._on_cancel
            future.add_done_callback(lambda f: on_cancel() if f.cancelled() else None)
        if self._outcome is not None:
            self._send_end()

    def report(self, message: str, percentage: int | None = None) -> None:
        """From any thread."""
        self._loop.call_soon_threadsafe(self._report, message, percentage)

    def _report(self, message: str, percentage: int | None) -> None:
        self._latest = (message, percentage)
        if self._created and self._outcome is None:
            report = types.WorkDoneProgressReport(message=message, percentage=percentage)
            self._ls.work_done_progress.report(self.token, report)

    def end(self, outcome: str) -> None:
        """On the event loop."""
        self._outcome = outcome
        if self._created:
            self._send_end()

    def _send_end(self) -> None:
        self._ls.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message=self._outcome))
