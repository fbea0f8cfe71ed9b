"""One thread that owns the model: every load and generation runs on it, in order."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from atlas_lsp.model.backend import CancelToken, ModelBackend, ModelError

logger = logging.getLogger(__name__)
T = TypeVar("T")
# quiet time after the last job before the backend's idle work starts: the answer is on its way (its thread and
# the client's need the CPU then, on 2 cores), and a burst of typing runs its requests without idle work in between
IDLE_AFTER_S = 0.05


@dataclass
class WorkerCounters:
    """What the worker did, for status, `doctor` and tests."""

    jobs_run: int = 0
    jobs_skipped_stale: int = 0
    jobs_failed: int = 0


@dataclass
class _Job:
    run: Callable[[], Any]
    future: Future[Any]
    cancel: CancelToken | None


class InferenceWorker:
    """Runs callables that use the model, one at a time, on a dedicated thread.

    A job whose cancel token fired while it waited in the queue is dropped without touching the model. When no job
    has come for IDLE_AFTER_S after the last one, the backend's ``idle()`` (where it has one) runs.
    """

    def __init__(self) -> None:
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._backend: ModelBackend | None = None
        self.counters = WorkerCounters()
        self._working = False  # a job or the backend's idle work is running
        self._thread = threading.Thread(target=self._loop, name="atlas-inference", daemon=True)
        self._thread.start()

    @property
    def backend(self) -> ModelBackend | None:
        return self._backend

    def has_waiting_jobs(self) -> bool:
        """Whether a job waits in the queue (a low-priority job checks it to make way)."""
        return not self._jobs.empty()

    @property
    def busy(self) -> bool:
        """Whether a job (or the backend's idle work) is running or waiting."""
        return self._working or not self._jobs.empty()

    def submit(self, use_model: Callable[[ModelBackend], T], cancel: CancelToken | None = None) -> Future[T]:
        """Queue ``use_model(backend)``; raises ModelError through the future when no model is loaded."""

        def run() -> T:
            if self._backend is None:
                raise ModelError("no model is loaded")
            return use_model(self._backend)

        return self._enqueue(run, cancel)

    def replace_backend(self, load: Callable[[], ModelBackend | None]) -> Future[ModelBackend | None]:
        """Close the current model (if any) and install what ``load`` returns, on the worker thread."""

        def run() -> ModelBackend | None:
            old, self._backend = self._backend, None
            if old is not None:
                old.close()
            self._backend = load()
            return self._backend

        return self._enqueue(run, None)

    def _enqueue(self, run: Callable[[], T], cancel: CancelToken | None) -> Future[T]:
        future: Future[T] = Future()
        self._jobs.put(_Job(run, future, cancel))
        return future

    def _loop(self) -> None:
        idle_due = False  # a job ran since the backend's last idle work
        while True:
            try:
                job = self._jobs.get(timeout=IDLE_AFTER_S) if idle_due else self._jobs.get()
            except queue.Empty:
                idle_due = False
                self._idle()
                continue
            if job is None:
                return
            idle_due = True
            if job.cancel is not None and job.cancel.should_stop():
                job.future.cancel()
                self.counters.jobs_skipped_stale += 1
                continue
            if not job.future.set_running_or_notify_cancel():
                self.counters.jobs_skipped_stale += 1
                continue
            self._working = True
            try:
                result = job.run()
            except BaseException as error:  # noqa: BLE001 - reported through the future
                self.counters.jobs_failed += 1
                logger.debug("model job failed: %s", error)
                job.future.set_exception(error)
            else:
                self.counters.jobs_run += 1
                job.future.set_result(result)
            finally:
                self._working = False

    def _idle(self) -> None:
        """Let the backend do what it does between requests (after IDLE_AFTER_S without one; a request that comes
        meanwhile waits for that work to end)."""
        idle = getattr(self._backend, "idle", None)
        if idle is None:
            return
        self._working = True
        try:
            idle()
        except Exception as error:  # noqa: BLE001 - an optimisation: never the request's failure
            logger.debug("idle work failed: %s", error)
        finally:
            self._working = False

    def stop(self, timeout: float = 5.0) -> None:
        """Finish the running job, drop the model, end the thread."""
        self._jobs.put(None)
        self._thread.join(timeout)
        backend, self._backend = self._backend, None
        if backend is not None and not self._thread.is_alive():
            backend.close()
