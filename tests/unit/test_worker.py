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


class IdleBackend(FakeBackend):
    """Records when the worker let it do its between-requests work."""

    def __init__(self, fail: bool = False) -> None:
        self.idle_calls: list[str] = []
        self.fail = fail

    def idle(self) -> None:
        self.idle_calls.append(threading.current_thread().name)
        if self.fail:
            raise RuntimeError("idle work broke")


def test_the_backend_works_in_idle_time_only_when_no_job_waits(worker: InferenceWorker) -> None:
    backend = worker.replace_backend(IdleBackend).result(timeout=5)
    assert isinstance(backend, IdleBackend)
    for _ in range(50):  # after the load, nothing waited
        if backend.idle_calls:
            break
        time.sleep(0.01)
    backend.idle_calls.clear()
    gate = threading.Event()
    first = worker.submit(lambda b: gate.wait(5))
    queued = [worker.submit(lambda b, i=i: i) for i in range(3)]  # these wait behind the first
    gate.set()
    assert [f.result(timeout=5) for f in queued] == [0, 1, 2] and first.result(timeout=5)
    for _ in range(50):
        if backend.idle_calls:
            break
        time.sleep(0.01)
    assert backend.idle_calls == ["atlas-inference"]  # once, after the last: never while jobs waited


def test_failing_idle_work_is_not_a_jobs_failure(worker: InferenceWorker) -> None:
    worker.replace_backend(lambda: IdleBackend(fail=True)).result(timeout=5)
    assert worker.submit(lambda b: "first").result(timeout=5) == "first"
    assert worker.submit(lambda b: "second").result(timeout=5) == "second"
    assert worker.counters.jobs_failed == 0


def test_idle_work_waits_for_a_quiet_moment(worker: InferenceWorker, monkeypatch: pytest.MonkeyPatch) -> None:
    """Jobs that follow each other closer than IDLE_AFTER_S (typing) run without idle work between them."""
    monkeypatch.setattr("atlas_lsp.model.worker.IDLE_AFTER_S", 2.0)
    backend = worker.replace_backend(IdleBackend).result(timeout=5)
    assert isinstance(backend, IdleBackend)
    for _ in range(3):
        assert worker.submit(lambda b: 1).result(timeout=5) == 1
        time.sleep(0.2)  # well inside the quiet time
    assert backend.idle_calls == []
    for _ in range(100):
        if backend.idle_calls:
            break
        time.sleep(0.05)
    assert backend.idle_calls == ["atlas-inference"]  # once the quiet time passed


def test_the_worker_says_when_it_is_busy(worker: InferenceWorker) -> None:
    """The server's idle garbage collection waits while a job runs or waits (atlas_lsp/idle_gc.py)."""
    worker.replace_backend(FakeBackend).result(timeout=5)
    assert not worker.busy
    gate = threading.Event()
    started = threading.Event()
    running = worker.submit(lambda b: started.set() or gate.wait(5))
    queued = worker.submit(lambda b: 2)
    assert started.wait(5) and worker.busy
    gate.set()
    running.result(timeout=5)
    assert queued.result(timeout=5) == 2
    deadline = time.monotonic() + 5
    while worker.busy and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not worker.busy
