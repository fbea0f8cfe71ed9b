"""Full garbage collections wait for a quiet moment (atlas_lsp/idle_gc.py)."""

from __future__ import annotations

import asyncio
import gc

import pytest

from atlas_lsp.idle_gc import NEVER, IdleCollector
from atlas_lsp.server import build_server


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _collector(clock: FakeClock, ran: list[float]) -> IdleCollector:
    return IdleCollector(
        quiet_s=1.0, min_interval_s=20.0, max_interval_s=120.0, clock=clock, collect=lambda: ran.append(clock.now)
    )


def test_a_full_collection_runs_only_when_the_client_is_quiet_and_not_too_often() -> None:
    clock, ran = FakeClock(), []
    collector = _collector(clock, ran)
    clock.now += 5
    assert not collector.maybe_collect()  # quiet, but a collection ran (at start) too recently
    clock.now += 20
    collector.activity()
    clock.now += 0.5
    assert not collector.maybe_collect()  # a message half a second ago: typing goes on
    clock.now += 0.6
    assert collector.maybe_collect() and ran == [clock.now]  # quiet for over a second
    clock.now += 10
    assert not collector.maybe_collect()  # at most every 20 s
    assert collector.full_collections == 1 and collector.last_full_ms >= 0


def test_no_collection_while_the_model_works_unless_one_is_long_overdue() -> None:
    clock, ran = FakeClock(), []
    working = [True]
    collector = IdleCollector(
        quiet_s=1.0,
        min_interval_s=20.0,
        max_interval_s=120.0,
        clock=clock,
        collect=lambda: ran.append(clock.now),
        busy=lambda: working[0],
    )
    clock.now += 30
    assert not collector.maybe_collect()  # the client is quiet, but a generation (or a solve job) is running
    working[0] = False
    assert collector.maybe_collect()
    working[0] = True
    clock.now += 120
    assert collector.maybe_collect()  # busy for two minutes: memory comes first


def test_a_client_that_is_never_quiet_still_gets_collections() -> None:
    clock, ran = FakeClock(), []
    collector = _collector(clock, ran)
    for _ in range(300):  # a message every half second for 150 s
        clock.now += 0.5
        collector.activity()
        collector.maybe_collect()
    assert len(ran) == 1 and ran[0] - 1000.0 == pytest.approx(120.0)


def test_automatic_full_collections_are_off_while_installed_and_young_ones_stay() -> None:
    before = gc.get_threshold()
    collector = IdleCollector()
    try:
        collector.install()
        collector.install()  # twice: the saved thresholds are still the original ones
        assert gc.get_threshold() == (before[0], before[1], NEVER)
    finally:
        collector.uninstall()
    assert gc.get_threshold() == before


def test_the_loop_checks_periodically() -> None:
    ran: list[int] = []
    collector = IdleCollector(quiet_s=0.0, min_interval_s=0.0, collect=lambda: ran.append(1))

    async def main() -> None:
        task = asyncio.create_task(collector.run(period_s=0.01))
        await asyncio.sleep(0.2)
        task.cancel()

    asyncio.run(main())
    assert len(ran) >= 2


def test_every_message_from_the_client_counts_as_activity() -> None:
    server = build_server()
    try:
        clock = FakeClock()
        server.collector._clock = clock  # type: ignore[attr-defined]
        clock.now = 5000.0
        server.protocol.structure_message({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        assert server.collector.last_activity == 5000.0
        assert set(server.status_report()["memory"]) == {"fullCollections", "lastFullCollectionMs"}
    finally:
        server.close_services()
