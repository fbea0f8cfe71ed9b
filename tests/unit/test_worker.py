import threading
import time
from concurrent.futures import CancelledError
from typing import Any

import pytest

from atlas_lsp.model.backend import CancelToken, ModelError
from atlas_lsp.model.worker import InferenceWorker


class FakeBackend:
    """Only identity matters here: the worker hands it to jobs."""

    info: Any = None

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def worker() -> Any:
    w = InferenceWorker()
    yield w
    w.stop()


def test_jobs_without_a_model_fail_clearly(worker: InferenceWorker) -> None:
    with pytest.raises(ModelError, match="no model"):
        worker.submit(lambda backend: 1).result(timeout=5)


def test_jobs_run_in_order_on_one_thread(worker: InferenceWorker) -> None:
    worker.replace_backend(FakeBackend).result(timeout=5)
    threads: list[str] = []
    futures = [worker.submit(lambda b, i=i: threads.append(threading.current_thread().name) or i) for i in range(5)]
    assert [f.result(timeout=5) for f in futures] == list(range(5))
    assert set(threads) == {"atlas-inference"}


def test_a_stale_job_never_reaches_the_model(worker: InferenceWorker) -> None:
    worker.replace_backend(FakeBackend).result(timeout=5)
    gate = threading.Event()
    blocker = worker.submit(lambda b: gate.wait(5))
    ran: list[int] = []
    token = CancelToken()
    stale = worker.submit(lambda b: ran.append(1), token)
    token.cancel()
    gate.set()
    blocker.result(timeout=5)
    with pytest.raises(CancelledError):
        stale.result(timeout=5)
    assert ran == []
    assert worker.counters.jobs_skipped_stale == 1


def test_replacing_the_backend_closes_the_old_one(worker: InferenceWorker) -> None:
    first = worker.replace_backend(FakeBackend).result(timeout=5)
    worker.replace_backend(FakeBackend).result(timeout=5)
    assert getattr(first, "closed", False)


def test_a_failing_job_does_not_stop_the_worker(worker: InferenceWorker) -> None:
    worker.replace_backend(FakeBackend).result(timeout=5)
    with pytest.raises(ZeroDivisionError):
        worker.submit(lambda b: 1 / 0).result(timeout=5)
    assert worker.submit(lambda b: "alive").result(timeout=5) == "alive"


def test_deadline_expires() -> None:
    token = CancelToken(deadline=time.monotonic() - 1)
    assert token.expired and token.should_stop() and not token.cancelled
