"""The reconcile loop: observe -> plan -> apply, the one place where the daemon acts.

daemon.py builds a `Reconciler` and awaits `run(stop)`; tests drive `reconcile_once()` with fakes
and injected clocks. Config: config_tracker.py; tests: checks.py; wording: events.py. Triggers:
file change (watch.py), resync, a due re-check or retry, SIGHUP and POST /reconcile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType

from backfuture_daemon.bots.lifecycle import BotLifecycle, Transition
from backfuture_daemon.bots.model import BotCommand, BotState, Gate
from backfuture_daemon.configuration.desired_state import DesiredState
from backfuture_daemon.configuration.revision import probe_revision
from backfuture_daemon.logs import log_event
from backfuture_daemon.reconciler import events
from backfuture_daemon.reconciler.backoff import BackoffPolicy, RandomSource, transient_delay
from backfuture_daemon.reconciler.checks import ConnectionChecks, Tester
from backfuture_daemon.reconciler.config_tracker import ConfigTracker, Loader, ProbeFn
from backfuture_daemon.reconciler.desired import Desired
from backfuture_daemon.reconciler.plan import (
    Action,
    ForgetConnection,
    Observed,
    TestConnection,
    plan,
)
from backfuture_daemon.reconciler.state import (
    ConnectionObservation,
    DaemonSnapshot,
    ReconcileResult,
)

log = logging.getLogger("backfuture.reconciler")

HISTORY = 5
#: The least a loop waits between passes: a due time the planner does not act on must never spin.
MIN_WAIT = 0.005


@dataclass(frozen=True, slots=True)
class LoopSettings:
    resync_interval: float = 60.0
    check_timeout: float = 10.0
    shutdown_grace: float = 20.0
    max_concurrent_checks: int = 16
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)


def emit_log(ev: events.Event) -> None:
    """The daemon's `Emit`: one log line per event (scrubbed by the logging filter)."""
    log_event(log, ev.level, ev.message, **ev.fields)


class Reconciler:
    def __init__(
        self,
        config_path: Path,
        *,
        loader: Loader,
        tester: Tester,
        lifecycle: BotLifecycle,
        salt: str,
        settings: LoopSettings | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        rand: RandomSource = random.random,
        probe: ProbeFn = probe_revision,
        emit: events.Emit = emit_log,
        version: str = "",
        sops_version: str = "",
        on_applied: Callable[[DesiredState], None] | None = None,
    ) -> None:
        self.config_path = config_path
        self._bots = lifecycle
        self._salt = salt
        self._settings = settings or LoopSettings()
        self._clock = clock
        self._monotonic = monotonic
        self._rand = rand
        self._emit = emit
        self.tracker = ConfigTracker(
            config_path,
            loader=loader,
            probe=probe,
            salt=salt,
            backoff=self._settings.backoff,
            clock=clock,
            rand=rand,
            emit=emit,
            on_applied=on_applied,
        )
        self.checks = ConnectionChecks(
            tester,
            desired=lambda: self.tracker.desired,
            revision=lambda: self.tracker.status.applied_revision,
            on_done=lambda name: self.request(f"connection {name} tested", config=False),
            on_error=lambda e: self._fail(e, retry_in=None),
            emit=emit,
            backoff=self._settings.backoff,
            check_timeout=self._settings.check_timeout,
            max_concurrent=self._settings.max_concurrent_checks,
            clock=clock,
            rand=rand,
        )
        self._history: deque[ReconcileResult] = deque(maxlen=HISTORY)
        self._wake = asyncio.Event()
        self._force = False
        self._config_dirty = True
        self._shutting_down = False
        self._loop_errors = 0
        self._started_at = clock()
        self._heartbeat = self._started_at
        self._version = version
        self._sops_version = sops_version
        self._snapshot = self._build_snapshot()

    # -- triggers and views -----------------------------------------------------------------

    def request(self, reason: str, *, force: bool = False, config: bool = True) -> None:
        """Wake the loop. `force`: re-read even an unchanged or broken revision and re-test
        failed connections now (SIGHUP, POST /reconcile)."""
        if force:
            self._force = True
        if config:
            self._config_dirty = True
        log.debug("reconcile requested: %s", reason)
        self._wake.set()

    def snapshot(self) -> DaemonSnapshot:
        return self._snapshot

    @property
    def desired(self) -> Desired:
        return self.tracker.desired

    async def drain(self) -> None:
        """Wait until no connection test is in flight (tests, benchmarks, shutdown)."""
        await self.checks.drain()

    def alive(self, max_age: float) -> bool:
        return self._clock() - self._heartbeat <= max_age

    # -- one pass ---------------------------------------------------------------------------

    async def reconcile_once(self, *, force: bool = False) -> tuple[Action, ...]:
        """Observe (config revision, test results), plan, apply. Returns the applied actions."""
        started = self._clock()
        self._heartbeat = started
        load_result: ReconcileResult | None = None
        if force or self._config_dirty or self.tracker.retry_due():
            self._config_dirty = False
            outcome = await self.tracker.observe(force=force, running=self._running())
            load_result = outcome.result
            if outcome.read_again:
                self._emit(events.event(logging.DEBUG, "config changed while read; reading again"))
                self.request("config changed while it was read")
            if force:
                self.checks.recheck_failed_now()
        actions = plan(self.desired, self._observed(), self._clock())
        transitions = self._apply(actions)
        if load_result is not None or transitions:
            result = load_result or ReconcileResult(
                at=started, revision=self.tracker.status.applied_revision, result="success"
            )
            msg = "; ".join(m for m in (result.message, events.summarise(transitions)) if m)
            self._history.append(
                replace(result, message=msg, duration_seconds=self._clock() - started)
            )
        self._publish()
        return actions

    def _running(self) -> int:
        return sum(1 for b in self._bots.bots.values() if b.state is BotState.RUNNING)

    def _observed(self) -> Observed:
        return Observed(
            connections=dict(self.checks.observations),
            bots=dict(self._bots.bots),
            in_flight=frozenset(self.checks.in_flight),
        )

    def _apply(self, actions: tuple[Action, ...]) -> list[Transition]:
        transitions: list[Transition] = []
        for action in actions:
            if isinstance(action, ForgetConnection):
                self.checks.forget(action.name)
                suspended = action.name in self.desired.fingerprints
                self._emit(events.connection_forgotten(action.name, suspended=suspended))
            elif isinstance(action, TestConnection):
                if not self._shutting_down:
                    self.checks.start(action.name, action.reason)
            else:
                t = self._bots.apply(action)
                if t is not None:
                    transitions.append(t)
                    self._emit(events.bot_changed(t, self.tracker.status.applied_revision))
        return transitions

    # -- snapshot ---------------------------------------------------------------------------

    def _build_snapshot(self) -> DaemonSnapshot:
        desired = self.desired
        conns: list[ConnectionObservation] = []
        if desired.state is not None:
            for c in sorted(desired.state.connections, key=lambda c: c.name):
                obs = self.checks.observations.get(c.name) or ConnectionObservation(
                    name=c.name,
                    exchange=c.exchange.value,
                    report=None,
                    fingerprint=desired.fingerprints.get(c.name, ""),
                )
                conns.append(obs)
        bots = tuple(
            b for _, b in sorted(self._bots.bots.items()) if b.state is not BotState.STOPPED
        )
        return DaemonSnapshot(
            config=self.tracker.status,
            connections=tuple(conns),
            bots=bots,
            history=tuple(self._history),
            ready=self.tracker.loaded_once and desired.state is not None,
            shutting_down=self._shutting_down,
            version=self._version,
            sops_version=self._sops_version,
            fingerprint_salt=self._salt,
            started_at=self._started_at,
            heartbeat_at=self._heartbeat,
            loop_errors_total=self._loop_errors,
        )

    def _publish(self) -> None:
        self._snapshot = self._build_snapshot()

    # -- the loop ---------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, *, watch: bool = True) -> None:
        """Until `stop` is set: reconcile on every trigger. Then shut down gracefully.

        An unexpected error in a pass is logged (scrubbed), counted in the snapshot and survived:
        the last good revision keeps running and the next pass comes after a backoff."""
        watcher: asyncio.Task[None] | None = None
        if watch:
            from backfuture_daemon.reconciler.watch import watch_config

            watcher = asyncio.create_task(
                watch_config(self.config_path, lambda why: self.request(why), stop),
                name="backfuture-watch",
            )
        next_resync = self._monotonic() + self._settings.resync_interval
        force = True
        failures = 0
        try:
            while not stop.is_set():
                try:
                    await self.reconcile_once(force=force)
                except Exception as e:
                    # Retried after a backoff (not at the next trigger, not at once).
                    failures += 1
                    wait = transient_delay(failures, self._settings.backoff, self._rand)
                    self._fail(e, wait)
                else:
                    failures = 0
                    wait = wait_seconds(
                        resync_in=next_resync - self._monotonic(),
                        due=(self.checks.next_due(), self.tracker.retry_at),
                        now=self._clock(),
                        floor=MIN_WAIT,
                    )
                force = False
                await _wait_any(self._wake, stop, wait)
                self._wake.clear()
                if self._monotonic() >= next_resync:
                    self._config_dirty = True
                    next_resync = self._monotonic() + self._settings.resync_interval
                force, self._force = self._force, False
        finally:
            stop.set()
            await self.shutdown()
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await watcher

    def _fail(self, error: Exception, retry_in: float | None) -> None:
        self._loop_errors += 1
        # The pass may have stopped half-way through a load: read the files again next time.
        self._config_dirty = True
        self.tracker.reread()
        ev = events.loop_failed(
            error, total=self._loop_errors, retry_in=retry_in, where=_where(error.__traceback__)
        )
        self._emit(ev)
        self._publish()

    async def shutdown(self) -> None:
        """Readiness false, no new tests, in-flight tests finish within the grace period."""
        if self._shutting_down:
            return
        self._shutting_down = True
        self._publish()
        if self.checks.in_flight:
            await self.checks.finish(self._settings.shutdown_grace)
            self._pause_after_drain()
        self._publish()

    def _pause_after_drain(self) -> None:
        """Results that came in while draining may pause bots (a key revoked meanwhile must be
        persisted as paused); nothing starts once shutdown began."""
        actions = plan(self.desired, self._observed(), self._clock())
        self._apply(tuple(a for a in actions if isinstance(a, BotCommand) and a.gate is Gate.PAUSE))


def wait_seconds(
    *, resync_in: float, due: tuple[float | None, ...], now: float, floor: float
) -> float:
    """How long the loop may sleep: until the resync, a re-check or a config retry falls due,
    but at least `floor` (a due time the planner does not act on must never spin)."""
    timeout = resync_in
    for at in due:
        if at is not None:
            timeout = min(timeout, at - now)
    return max(timeout, floor)


def _where(tb: TracebackType | None) -> str:
    """`module.py:123 in function` of the innermost frame: where, without any value."""
    last = None
    while tb is not None:
        last, tb = tb, tb.tb_next
    if last is None:
        return ""
    code = last.tb_frame.f_code
    return f"{Path(code.co_filename).name}:{last.tb_lineno} in {code.co_name}"


async def _wait_any(wake: asyncio.Event, stop: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.create_task(wake.wait()), asyncio.create_task(stop.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
