"""No revision and no bug in a pass kills the loop: a loader's unexpected exception is a rejected
revision, any other exception is logged scrubbed (one JSON line), counted and survived, and the
last good revision keeps running. Also: the loop's resync timer runs on the injected clock."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from backfuture_daemon.bots.lifecycle import BotLifecycle
from backfuture_daemon.bots.model import BotState
from backfuture_daemon.configuration.desired_state import DesiredState
from backfuture_daemon.configuration.revision import Probe
from backfuture_daemon.logs import JsonFormatter, install_redaction
from backfuture_daemon.reconciler.backoff import BackoffPolicy
from backfuture_daemon.reconciler.loop import LoopSettings, Reconciler
from tests.helpers.desired import FakeTester, conn, desired_state, strat

#: Long enough to be cut out as a key-like token even though nobody registered it.
CANARY = "CANARYloopCRASHsecretTOKEN0123456789abcdef"


def good_state(digest: str = "g1") -> DesiredState:
    return desired_state([conn()], [strat()], digest=digest)


def make(load: object, probe: object, **kw: object) -> Reconciler:
    return Reconciler(
        Path("/config"),
        loader=load,  # type: ignore[arg-type]
        tester=FakeTester(),
        lifecycle=BotLifecycle(None, lambda: 1_000.0),
        salt="s",
        clock=lambda: 1_000.0,
        rand=lambda: 0.5,
        probe=probe,  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


async def settle(r: Reconciler) -> None:
    await r.reconcile_once()
    await r.drain()
    await r.reconcile_once()


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """The reconciler's log lines as the daemon writes them with BACKFUTURE_LOG_FORMAT=json."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    install_redaction(handler)
    logger = logging.getLogger("backfuture.reconciler")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(old_level)


@pytest.mark.parametrize(
    "error",
    [
        ValueError(f"invalid literal for int() with base 10: '{CANARY}'"),
        KeyError(CANARY),
        TypeError("unhashable type: 'list'"),
        RecursionError("maximum recursion depth exceeded"),
    ],
)
async def test_a_loader_crash_is_a_rejected_revision_and_the_last_good_one_keeps_running(
    error: Exception,
) -> None:
    current: dict[str, object] = {"state": good_state(), "digest": "a"}

    def load(path: Path) -> DesiredState:
        state = current["state"]
        if isinstance(state, Exception):
            raise state
        assert isinstance(state, DesiredState)
        return state

    r = make(load, lambda p: Probe(str(p), None, str(current["digest"])))
    await settle(r)
    assert [b.state for b in r.snapshot().bots] == [BotState.RUNNING]
    current.update(state=error, digest="b")
    r.request("commit")
    await settle(r)
    snap = r.snapshot()
    assert snap.config.errors_total == {"file_unreadable": 1}
    assert f"({type(error).__name__} while loading)" in (snap.config.last_error or "")
    assert CANARY not in repr(snap)  # the exception's text may echo a value of the file
    assert snap.config.applied_revision == "sha256:g1g1g1g1g1g1"
    assert [b.state for b in snap.bots] == [BotState.RUNNING]


async def test_an_unexpected_error_in_a_pass_is_logged_scrubbed_counted_and_survived(
    json_lines: io.StringIO,
) -> None:
    probes = 0

    def probe(path: Path) -> Probe:
        nonlocal probes
        probes += 1
        if probes in (3, 4):  # after the first revision is applied and its test has run
            raise RuntimeError(f"git said {CANARY}\nand more")
        return Probe(str(path), None, "a")

    backoff = BackoffPolicy(base=0.02, cap=0.05)  # the pause after a failed pass
    settings = LoopSettings(resync_interval=0.01, backoff=backoff)
    r = make(lambda p: good_state(), probe, settings=settings)
    stop = asyncio.Event()
    task = asyncio.create_task(r.run(stop, watch=False))
    for _ in range(200):
        await asyncio.sleep(0.01)
        if probes >= 6:
            break
    assert not task.done()  # survived, and kept reconciling after the failures
    stop.set()
    await asyncio.wait_for(task, 2.0)
    assert probes >= 6
    snap = r.snapshot()
    assert snap.loop_errors_total == 2
    assert snap.config.applied_revision == "sha256:g1g1g1g1g1g1"  # the last good one runs
    lines = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    failed = [d for d in lines if d["msg"].startswith("reconcile pass failed")]
    assert failed
    assert failed[0]["level"] == "ERROR"
    assert failed[0]["exception"] == "RuntimeError"
    assert failed[0]["error_class"] == "internal_error"
    assert "test_loop_survives_errors.py" in failed[0]["where"]
    assert CANARY not in json_lines.getvalue()


async def test_resync_runs_on_the_injected_monotonic_clock() -> None:
    async def probes_within(monotonic: object) -> int:
        probes = 0

        def probe(path: Path) -> Probe:
            nonlocal probes
            probes += 1
            return Probe(str(path), None, "a")

        settings = LoopSettings(resync_interval=1_000.0)
        r = make(lambda p: good_state(), probe, settings=settings, monotonic=monotonic)
        stop = asyncio.Event()
        task = asyncio.create_task(r.run(stop, watch=False))
        await asyncio.sleep(0.2)
        stop.set()
        await asyncio.wait_for(task, 2.0)
        return probes

    frozen = await probes_within(lambda: 50.0)
    ticks = iter(range(0, 10**12, 5_000))  # each reading 5,000 s on: a resync is always due
    racing = await probes_within(lambda: float(next(ticks)))
    # The first pass probes twice (before and after the load); a frozen clock never resyncs.
    assert frozen == 2
    assert racing > 4  # every pass re-reads the config: the loop keeps time by the clock given


class ContractBreakingTester(FakeTester):
    async def test(self, connection, strategies, policy):  # type: ignore[no-untyped-def]
        self.calls.append(connection.name)
        return "online"  # not a ConnectionReport


async def test_a_tester_returning_no_report_is_an_unknown_error_not_a_crash() -> None:
    r = Reconciler(
        Path("/config"),
        loader=lambda p: good_state(),
        tester=ContractBreakingTester(),
        lifecycle=BotLifecycle(None, lambda: 1_000.0),
        salt="s",
        clock=lambda: 1_000.0,
        rand=lambda: 0.5,
        probe=lambda p: Probe(str(p), None, "a"),
    )
    await settle(r)
    (obs,) = r.snapshot().connections
    assert obs.report is not None
    assert [c.value for c in obs.report.error_classes] == ["unknown_error"]
    assert "returned str" in obs.report.steps[0].reason
    assert [b.state for b in r.snapshot().bots] == [BotState.PAUSED]


async def test_a_bug_while_recording_a_result_is_counted_not_lost_with_the_task(
    json_lines: io.StringIO,
) -> None:
    def rand() -> float:  # the backoff's random source, called while recording a result
        raise RuntimeError(f"entropy pool says {CANARY}")

    r = Reconciler(
        Path("/config"),
        loader=lambda p: good_state(),
        tester=FakeTester(),
        lifecycle=BotLifecycle(None, lambda: 1_000.0),
        salt="s",
        clock=lambda: 1_000.0,
        rand=rand,
        probe=lambda p: Probe(str(p), None, "a"),
    )
    await settle(r)
    snap = r.snapshot()
    assert snap.loop_errors_total == 1
    assert not r.checks.in_flight  # not re-tested at once: no hot loop on a bug
    (obs,) = snap.connections
    assert obs.next_check_at == 1_005.0  # backed off (base 5 s) without the failing code
    assert [b.state for b in snap.bots] == [BotState.PAUSED]  # never ran on an unrecorded test
    assert "reconcile pass failed: RuntimeError" in json_lines.getvalue()
    assert CANARY not in json_lines.getvalue()


async def test_a_revision_whose_pass_failed_half_way_is_loaded_on_the_next_pass() -> None:
    digest = "a"
    probes = 0

    def probe(path: Path) -> Probe:
        nonlocal probes
        probes += 1
        if probes == 4:  # the re-probe after loading revision b, once
            raise RuntimeError("git crashed")
        return Probe(str(path), None, digest)

    def load(path: Path) -> DesiredState:
        return good_state("g1" if digest == "a" else "g2")

    backoff = BackoffPolicy(base=0.02, cap=0.05)
    r = make(load, probe, settings=LoopSettings(resync_interval=60.0, backoff=backoff))
    stop = asyncio.Event()
    task = asyncio.create_task(r.run(stop, watch=False))
    for _ in range(100):
        await asyncio.sleep(0.01)
        if r.snapshot().config.applied_revision == "sha256:g1g1g1g1g1g1":
            break
    digest = "b"
    r.request("commit b")
    for _ in range(200):
        await asyncio.sleep(0.01)
        if r.snapshot().config.applied_revision == "sha256:g2g2g2g2g2g2":
            break
    stop.set()
    await asyncio.wait_for(task, 2.0)
    assert r.snapshot().loop_errors_total == 1
    # Without re-reading, b would count as "seen" and never be applied until the next commit.
    assert r.snapshot().config.applied_revision == "sha256:g2g2g2g2g2g2"
