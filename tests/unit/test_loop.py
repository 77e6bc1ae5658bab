"""The reconcile loop with a fake tester at the port, a scripted loader and an injected clock.

No sops, no network, no real sleeps: `reconcile_once()` is driven by hand and `drain()` waits
for the fake tests, which return at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from backfuture_daemon.bots.lifecycle import BotLifecycle
from backfuture_daemon.bots.model import BotState
from backfuture_daemon.bots.store import BotStore
from backfuture_daemon.configuration.desired_state import DesiredState
from backfuture_daemon.configuration.models import Connection, Policy, Strategy
from backfuture_daemon.configuration.revision import Probe
from backfuture_daemon.errors import ConfigError, ConfigIssue
from backfuture_daemon.health import ConnectionReport, ErrorClass
from backfuture_daemon.reconciler.backoff import BackoffPolicy
from backfuture_daemon.reconciler.loop import LoopSettings, Reconciler
from backfuture_daemon.reconciler.state import DaemonSnapshot
from tests.helpers.desired import FakeTester, conn, desired_state, failed, online, strat

CANARY = "CANARYloopSECRET0000"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class Repo:
    """What the loader would read: a revision per digest; raising ConfigError when broken."""

    def __init__(self, state: DesiredState | ConfigError) -> None:
        self.current = state
        self.loads = 0

    def set(self, state: DesiredState | ConfigError) -> None:
        self.current = state

    def probe(self, path: Path) -> Probe:
        digest = (
            self.current.revision.digest
            if isinstance(self.current, DesiredState)
            else f"broken{id(self.current)}"
        )
        return Probe(target=str(path), commit=None, digest=digest)

    def load(self, path: Path) -> DesiredState:
        self.loads += 1
        if isinstance(self.current, ConfigError):
            raise self.current
        return self.current


def make(
    repo: Repo,
    tester: FakeTester,
    clock: Clock,
    store: BotStore | None = None,
    settings: LoopSettings | None = None,
) -> Reconciler:
    return Reconciler(
        Path("/config"),
        loader=repo.load,
        tester=tester,
        lifecycle=BotLifecycle(store, clock),
        salt="s",
        settings=settings or LoopSettings(backoff=BackoffPolicy()),
        clock=clock,
        rand=lambda: 0.5,
        probe=repo.probe,
    )


async def settle(r: Reconciler, *, force: bool = False) -> DaemonSnapshot:
    await r.reconcile_once(force=force)
    await r.drain()
    await r.reconcile_once()
    return r.snapshot()


def bots(snap: DaemonSnapshot) -> dict[str, tuple[BotState, str]]:
    return {b.strategy: (b.state, b.reason) for b in snap.bots}


def two_connections(key: str = "mx0vKEYaaaa1111", digest: str = "d1") -> DesiredState:
    return desired_state(
        [conn(key=key), conn("KC Main", key="kcKEY99998888")],
        [strat(), strat("ETH Bot", "KC Main")],
        digest=digest,
    )


async def test_first_revision_tests_connections_then_starts_bots() -> None:
    tester, clock = FakeTester(), Clock()
    r = make(Repo(two_connections()), tester, clock)
    await r.reconcile_once()
    snap = r.snapshot()
    assert snap.ready
    assert snap.config.applied_revision == "sha256:d1d1d1d1d1d1"
    assert bots(snap)["BTC Bot"][0] is BotState.PAUSED  # waiting for the first test
    await r.drain()
    await r.reconcile_once()
    snap = r.snapshot()
    assert sorted(tester.calls) == ["KC Main", "MEXC Main"]
    assert {b.strategy for b in snap.bots if b.state is BotState.RUNNING} == {"BTC Bot", "ETH Bot"}
    by_name = {c.name: c for c in snap.connections}
    assert by_name["MEXC Main"].report is not None
    assert by_name["MEXC Main"].next_check_at == pytest.approx(1_300.0)  # 5 min, rand 0.5
    assert by_name["MEXC Main"].checks_total == {"online": 1}
    assert CANARY not in repr(snap)


async def test_failed_connection_pauses_only_its_bot_and_recovers() -> None:
    tester, clock = FakeTester(), Clock()
    r = make(Repo(two_connections()), tester, clock)
    await settle(r)
    tester.script("MEXC Main", failed("MEXC Main", ErrorClass.NO_TRADE_PERMISSION))
    clock.now += 301
    snap = await settle(r)
    assert bots(snap)["BTC Bot"] == (
        BotState.PAUSED,
        'connection "MEXC Main" failed: no_trade_permission',
    )
    assert bots(snap)["ETH Bot"][0] is BotState.RUNNING
    mexc = next(c for c in snap.connections if c.name == "MEXC Main")
    assert mexc.next_check_at == pytest.approx(clock.now + 1800)  # permanent: long interval
    tester.script("MEXC Main", online())
    clock.now += 1801
    snap = await settle(r)
    assert bots(snap)["BTC Bot"][0] is BotState.RUNNING


async def test_transient_failures_back_off_exponentially() -> None:
    tester, clock = FakeTester(), Clock()
    r = make(Repo(two_connections()), tester, clock)
    tester.script("MEXC Main", failed("MEXC Main", ErrorClass.EXCHANGE_UNAVAILABLE))
    delays = []
    await settle(r)
    for _ in range(4):
        mexc = next(c for c in r.snapshot().connections if c.name == "MEXC Main")
        delays.append(mexc.next_check_at - clock.now)  # type: ignore[operator]
        clock.now = mexc.next_check_at  # type: ignore[assignment]
        await settle(r)
    assert delays == pytest.approx([2.5, 5.0, 10.0, 20.0])  # full jitter at rand 0.5
    mexc = next(c for c in r.snapshot().connections if c.name == "MEXC Main")
    assert mexc.consecutive_failures == 5
    assert bots(r.snapshot())["ETH Bot"][0] is BotState.RUNNING


async def test_bad_revision_changes_nothing_and_is_not_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tester, clock = FakeTester(), Clock()
    repo = Repo(two_connections())
    r = make(repo, tester, clock)
    await settle(r)
    broken = ConfigError(
        [
            ConfigIssue(
                "config/main.yaml",
                "connections[0].api_key",
                "plaintext secret; encrypt the file with sops",
                "plaintext_secret",
            )
        ]
    )
    repo.set(broken)
    caplog.set_level(logging.ERROR)
    r.request("changed")
    snap = await settle(r)
    assert snap.config.applied_revision == "sha256:d1d1d1d1d1d1"
    assert snap.config.attempted_revision != snap.config.applied_revision
    assert "config/main.yaml: connections[0].api_key" in (snap.config.last_error or "")
    assert snap.config.reloads_total == {"success": 1, "failure": 1}
    assert snap.config.errors_total == {"plaintext_secret": 1}
    assert {s for s, (st, _) in bots(snap).items() if st is BotState.RUNNING} == {
        "BTC Bot",
        "ETH Bot",
    }
    assert snap.history[-1].result == "failure"
    loads = repo.loads
    r.request("resync")
    await settle(r)
    assert repo.loads == loads  # same broken digest: not re-attempted
    await settle(r, force=True)
    assert repo.loads == loads + 1  # forced reconcile re-attempts
    rejected = [rec for rec in caplog.records if "rejected" in rec.getMessage()]
    assert len(rejected) == 2  # once per attempt, not once per pass


async def test_empty_revision_while_bots_run_is_refused() -> None:
    tester, clock = FakeTester(), Clock()
    repo = Repo(two_connections())
    r = make(repo, tester, clock)
    await settle(r)
    repo.set(desired_state([], [], digest="e"))
    r.request("changed")
    snap = await settle(r)
    assert snap.config.errors_total == {"empty_config": 1}
    assert snap.config.applied_revision == "sha256:d1d1d1d1d1d1"
    assert len([b for b in snap.bots if b.state is BotState.RUNNING]) == 2
    repo.set(desired_state([conn()], [], digest="f"))  # connections left, strategies gone
    r.request("changed")
    snap = await settle(r)
    assert snap.config.errors_total == {"empty_config": 2}
    assert "strategies" in (snap.config.last_error or "")
    assert len([b for b in snap.bots if b.state is BotState.RUNNING]) == 2


async def test_empty_revision_is_fine_when_no_bot_runs() -> None:
    r = make(Repo(desired_state([], [], digest="e")), FakeTester(), Clock())
    snap = await settle(r)
    assert snap.ready
    assert snap.config.last_error is None


async def test_changed_key_is_retested_at_once_unchanged_keeps_result() -> None:
    tester, clock = FakeTester(), Clock()
    repo = Repo(two_connections())
    r = make(repo, tester, clock)
    await settle(r)
    tester.calls.clear()
    repo.set(two_connections(key="mx0vNEWKEY22223333", digest="d2"))
    r.request("changed")
    await r.reconcile_once()
    assert bots(r.snapshot())["BTC Bot"] == (
        BotState.PAUSED,
        'connection "MEXC Main" changed; re-testing',
    )
    await r.drain()
    await r.reconcile_once()
    assert tester.calls == ["MEXC Main"]
    assert bots(r.snapshot())["BTC Bot"][0] is BotState.RUNNING


async def test_removed_strategy_stops_and_vanishes_from_the_snapshot(tmp_path: Path) -> None:
    tester, clock = FakeTester(), Clock()
    repo = Repo(two_connections())
    store = BotStore.in_dir(tmp_path)
    r = make(repo, tester, clock, store)
    await settle(r)
    repo.set(desired_state([conn()], [strat()], digest="d3"))
    r.request("changed")
    snap = await settle(r)
    assert set(bots(snap)) == {"BTC Bot"}
    assert [c.name for c in snap.connections] == ["MEXC Main"]
    assert store.load_bots()["ETH Bot"].state is BotState.STOPPED


async def test_restart_restores_bots_but_none_runs_before_its_connection_is_retested(
    tmp_path: Path,
) -> None:
    tester, clock = FakeTester(), Clock()
    tester.script("KC Main", failed("KC Main", ErrorClass.NO_TRADE_PERMISSION))
    store = BotStore.in_dir(tmp_path)
    await settle(make(Repo(two_connections()), tester, clock, store))
    store.close()
    clock.now += 100
    tester = GatedTester()
    tester.script("KC Main", failed("KC Main", ErrorClass.NO_TRADE_PERMISSION))
    again_store = BotStore.in_dir(tmp_path)
    again = make(Repo(two_connections()), tester, clock, again_store)
    await again.reconcile_once()
    await asyncio.wait_for(tester.both_waiting.wait(), 1.0)  # both tests under way
    await again.reconcile_once()
    restored = {b.strategy: b for b in again.snapshot().bots}
    btc, eth = restored["BTC Bot"], restored["ETH Bot"]
    # Persisted as running, but not one pass of this process lets it run on an untested key.
    assert (btc.state, btc.reason) == (BotState.PAUSED, 'waiting for the first test of "MEXC Main"')
    assert (btc.previous_state, btc.previous_reason) == (
        BotState.RUNNING,
        'connection "MEXC Main" online',
    )
    assert (eth.state, eth.since) == (BotState.PAUSED, 1_000.0)  # paused before: since kept
    assert eth.previous_state is BotState.PAUSED
    assert "no_trade_permission" in eth.previous_reason
    assert again_store.transitions("BTC Bot")[-1][1:] == (
        "running",
        "paused",
        'waiting for the first test of "MEXC Main"',
    )
    tester.gate.set()
    await again.drain()
    await again.reconcile_once()
    restored = {b.strategy: b for b in again.snapshot().bots}
    assert restored["BTC Bot"].state is BotState.RUNNING
    assert restored["BTC Bot"].since == clock.now
    assert restored["ETH Bot"].state is BotState.PAUSED


class GatedTester(FakeTester):
    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.both_waiting = asyncio.Event()
        self.waiting = 0

    async def test(
        self, connection: Connection, strategies: Sequence[Strategy], policy: Policy
    ) -> ConnectionReport:
        self.waiting += 1
        if self.waiting == 2:
            self.both_waiting.set()
        await self.gate.wait()
        return await super().test(connection, strategies, policy)


async def test_shutdown_lets_in_flight_tests_finish() -> None:
    tester, clock = GatedTester(), Clock()
    r = make(Repo(two_connections()), tester, clock)
    stop = asyncio.Event()
    task = asyncio.create_task(r.run(stop, watch=False))
    await asyncio.wait_for(tester.both_waiting.wait(), 1.0)
    stop.set()
    for _ in range(20):
        await asyncio.sleep(0)
    assert r.snapshot().shutting_down
    assert not task.done()
    tester.gate.set()
    await asyncio.wait_for(task, 1.0)
    assert sorted(tester.calls) == ["KC Main", "MEXC Main"]
    assert not r.checks.in_flight


async def test_shutdown_cancels_tests_past_the_deadline() -> None:
    tester, clock = GatedTester(), Clock()
    r = make(Repo(two_connections()), tester, clock, settings=LoopSettings(shutdown_grace=0.01))
    stop = asyncio.Event()
    task = asyncio.create_task(r.run(stop, watch=False))
    await asyncio.wait_for(tester.both_waiting.wait(), 1.0)
    stop.set()
    await asyncio.wait_for(task, 1.0)
    assert not r.checks.in_flight
    assert tester.calls == []


async def test_tester_timeout_is_exchange_unavailable() -> None:
    tester, clock = GatedTester(), Clock()
    r = make(Repo(two_connections()), tester, clock, settings=LoopSettings(check_timeout=0.01))
    snap = await settle(r)
    mexc = next(c for c in snap.connections if c.name == "MEXC Main")
    assert mexc.report is not None
    assert mexc.report.error_classes == (ErrorClass.EXCHANGE_UNAVAILABLE,)
    assert bots(snap)["BTC Bot"][0] is BotState.PAUSED


async def test_unreadable_config_path_is_reported_once_then_recovers() -> None:
    repo = Repo(two_connections())
    r = make(repo, FakeTester(), Clock())
    await settle(r)
    real_probe = repo.probe

    def gone(path: Path) -> Probe:
        raise FileNotFoundError(2, "No such file or directory")

    r.tracker.probe = gone
    for _ in range(3):
        r.request("resync")
        snap = await settle(r)
    assert snap.config.errors_total == {"file_unreadable": 1}
    assert snap.config.applied_revision == "sha256:d1d1d1d1d1d1"
    assert len([b for b in snap.bots if b.state is BotState.RUNNING]) == 2
    r.tracker.probe = real_probe
    r.request("resync")
    snap = await settle(r)
    assert snap.config.last_error is None


async def test_key_rotated_while_the_old_key_is_tested_waits_for_the_new_result() -> None:
    repo, clock = Repo(two_connections()), Clock()
    r = make(repo, FakeTester(), clock)
    await settle(r)
    tester = GatedTester()
    r.checks.tester = tester
    clock.now += 301  # scheduled re-checks of the old key are under way
    await r.reconcile_once()
    await asyncio.wait_for(tester.both_waiting.wait(), 1.0)
    repo.set(two_connections(key="mx0vROTATED4444", digest="d2"))
    r.request("changed")
    await r.reconcile_once()
    assert bots(r.snapshot())["BTC Bot"] == (
        BotState.PAUSED,
        'connection "MEXC Main" changed; re-testing',
    )
    tester.gate.set()
    await r.drain()
    await r.reconcile_once()  # the old key's (online) result must not start the bot
    assert bots(r.snapshot())["BTC Bot"][0] is BotState.PAUSED
    assert bots(r.snapshot())["ETH Bot"][0] is BotState.RUNNING
    await r.drain()
    await r.reconcile_once()
    assert tester.calls.count("MEXC Main") == 2  # old key, then the new one at once
    assert bots(r.snapshot())["BTC Bot"][0] is BotState.RUNNING


async def test_results_arriving_while_draining_pause_bots_but_start_none(tmp_path: Path) -> None:
    clock = Clock()
    store = BotStore.in_dir(tmp_path)
    r = make(Repo(two_connections()), FakeTester(), clock, store)
    await settle(r)
    tester = GatedTester()
    tester.script("MEXC Main", failed("MEXC Main", ErrorClass.NO_TRADE_PERMISSION))
    r.checks.tester = tester
    clock.now += 301
    stop = asyncio.Event()
    task = asyncio.create_task(r.run(stop, watch=False))
    await asyncio.wait_for(tester.both_waiting.wait(), 1.0)
    stop.set()  # SIGTERM while both re-checks are in flight
    for _ in range(20):
        await asyncio.sleep(0)
    tester.gate.set()
    await asyncio.wait_for(task, 1.0)
    # The revoked key was seen during the drain: the persisted state must say so.
    assert store.load_bots()["BTC Bot"].state is BotState.PAUSED
    assert "no_trade_permission" in store.load_bots()["BTC Bot"].reason
    assert store.load_bots()["ETH Bot"].state is BotState.RUNNING


async def test_no_bot_starts_once_shutdown_began() -> None:
    tester, clock = GatedTester(), Clock()
    r = make(Repo(two_connections()), tester, clock)
    stop = asyncio.Event()
    task = asyncio.create_task(r.run(stop, watch=False))
    await asyncio.wait_for(tester.both_waiting.wait(), 1.0)
    stop.set()
    for _ in range(20):
        await asyncio.sleep(0)
    tester.gate.set()  # both connections turn out online, but the daemon is stopping
    await asyncio.wait_for(task, 1.0)
    assert all(b.state is BotState.PAUSED for b in r.snapshot().bots)


async def test_config_symlink_whose_target_vanishes_keeps_the_last_good_revision(
    tmp_path: Path,
) -> None:
    from backfuture_daemon.configuration.loading import load_revision
    from backfuture_daemon.configuration.revision import probe_revision

    root = tmp_path / "root"
    target = root / ".worktrees" / "a"
    target.mkdir(parents=True)
    (target / "main.yaml").write_text("version: 1\n")
    link = root / "repo"
    link.symlink_to(target)
    loads: list[Path] = []

    def load(path: Path) -> DesiredState:
        loads.append(path)
        if not path.exists():  # git-sync pruned the worktree: the real loader's answer
            return load_revision(path)
        return two_connections()

    clock = Clock()
    r = Reconciler(
        link,
        loader=load,
        tester=FakeTester(),
        lifecycle=BotLifecycle(None, clock),
        salt="s",
        clock=clock,
        rand=lambda: 0.5,
        probe=probe_revision,
    )
    await settle(r)
    good = r.snapshot().config.applied_revision
    (target / "main.yaml").unlink()
    target.rmdir()
    for _ in range(3):
        r.request("resync")
        snap = await settle(r)
    assert len(loads) == 2  # the dangling link is tried once, not on every resync
    assert snap.config.errors_total == {"file_unreadable": 1}
    assert "does not exist" in (snap.config.last_error or "")
    assert snap.config.applied_revision == good
    assert snap.ready
    assert {b.state for b in snap.bots} == {BotState.RUNNING}
    target.mkdir()
    (target / "main.yaml").write_text("version: 1\n")
    r.request("resync")
    snap = await settle(r)
    assert snap.config.last_error is None


async def test_a_sops_timeout_is_retried_with_backoff_not_frozen_until_the_next_commit(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A slow machine, not the revision, failed: the same digest is tried again after a backoff.
    tester, clock = FakeTester(), Clock()
    repo = Repo(two_connections())
    r = make(repo, tester, clock)
    await settle(r)
    good = two_connections(key="mx0vNEWKEY22223333", digest="d2")
    slow = ConfigError(
        [ConfigIssue("main.yaml", "", "sops did not finish within 30s", "decrypt_timeout")]
    )
    repo.set(slow)
    probe = repo.probe(Path("/config"))
    r.tracker.probe = lambda path: Probe(target=str(path), commit=None, digest=probe.digest)
    caplog.set_level(logging.ERROR)
    r.request("changed")
    snap = await settle(r)
    assert snap.config.errors_total == {"decrypt_timeout": 1}
    (line,) = [rec.getMessage() for rec in caplog.records if "rejected" in rec.getMessage()]
    assert "transient; retry in" in line
    loads = repo.loads
    r.request("resync")
    await settle(r)
    assert repo.loads == loads  # not before the backoff (no hot loop)
    repo.set(good)  # same digest on disk; sops would succeed now
    clock.now += 6  # past the first backoff (full jitter, at most 5 s)
    await r.reconcile_once()  # the retry is due: no file event needed
    assert repo.loads == loads + 1
    await r.drain()
    snap = await settle(r)
    assert snap.config.last_error is None
    assert snap.config.applied_digest == good.revision.digest


async def test_terminal_decrypt_errors_are_not_retried_on_a_timer() -> None:
    tester, clock = FakeTester(), Clock()
    repo = Repo(two_connections())
    r = make(repo, tester, clock)
    await settle(r)
    repo.set(ConfigError([ConfigIssue("main.yaml", "", "MAC mismatch", "decrypt_mac_mismatch")]))
    r.request("changed")
    await settle(r)
    loads = repo.loads
    clock.now += 3600
    await settle(r)
    r.request("resync")
    await settle(r)
    assert repo.loads == loads


async def test_a_due_config_retry_never_spins_when_the_path_turns_unreadable() -> None:
    repo, clock = Repo(two_connections()), Clock()
    r = make(repo, FakeTester(), clock)
    await settle(r)
    repo.set(ConfigError([ConfigIssue("main.yaml", "", "sops timed out", "decrypt_timeout")]))
    r.request("changed")
    await settle(r)
    probes = 0

    def gone(path: Path) -> Probe:
        nonlocal probes
        probes += 1
        raise FileNotFoundError(2, "No such file or directory")

    r.tracker.probe = gone
    clock.now += 3600  # the retry is long due, but the path cannot be read at all
    stop = asyncio.Event()
    task = asyncio.create_task(r.run(stop, watch=False))
    await asyncio.sleep(0.3)
    stop.set()
    await asyncio.wait_for(task, 1.0)
    assert probes <= 3  # a retry that cannot happen must not become a 5 ms poll


async def test_files_changing_while_read_are_read_again_neither_applied_nor_rejected() -> None:
    # Seen on a loaded CI machine: the loader read the files of one state and then asked git for
    # HEAD after the next (broken) commit had landed, so the good content was applied under the
    # broken commit's name. A torn read must be discarded and the files read again.
    tester, clock = FakeTester(), Clock()
    repo = Repo(two_connections())
    r = make(repo, tester, clock)
    await settle(r)
    torn = two_connections(key="mx0vNEWKEY22223333", digest="d2")
    plain = ConfigError([ConfigIssue("plain.yaml", "", "plaintext secret", "plaintext_secret")])
    reads = 0

    def load(path: Path) -> DesiredState:
        nonlocal reads
        reads += 1
        if reads == 1:
            repo.set(plain)  # the next commit lands while this read is under way
            return torn
        return repo.load(path)

    r.tracker.loader = load
    repo.set(torn)
    r.request("changed")
    snap = await settle(r)
    assert reads == 2
    assert snap.config.applied_revision == "sha256:d1d1d1d1d1d1"  # the torn read never applied
    assert snap.config.reloads_total == {"success": 1, "failure": 1}
    assert snap.config.errors_total == {"plaintext_secret": 1}


async def test_same_content_read_from_a_dirty_tree_keeps_the_applied_name() -> None:
    from backfuture_daemon.configuration.identity import Revision

    repo, clock = Repo(two_connections()), Clock()
    r = make(repo, FakeTester(), clock)
    await settle(r)
    good = r.snapshot().config.applied_revision
    dirty = replace(
        two_connections(), revision=Revision(digest="d1" * 8, commit="b" * 40, dirty=True)
    )
    r.tracker.loader = lambda path: dirty
    r.tracker.probe = lambda path: Probe(target=str(path), commit="b" * 40, digest="other")
    r.request("changed")
    snap = await settle(r)
    assert snap.config.applied_revision == good  # not "bbbbbbbbbbbb-dirty": nothing changed
