"""The reconcile loop: observe -> plan -> apply, the one place where the daemon acts.

`backfuture run` builds a `Reconciler` and awaits `run(stop)`; tests drive `reconcile_once()`
with a fake tester and an injected clock. It owns the live state (last good config, connection
observations, bots via bots/lifecycle.py) and publishes a `DaemonSnapshot` that telemetry and
/status read. Triggers: config change (reconciler/watch.py), periodic resync, per-connection
re-check due (heap), SIGHUP and POST /reconcile (`request(force=True)`).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from backfuture_daemon.bots.lifecycle import BotLifecycle, Transition
from backfuture_daemon.bots.model import BotCommand, BotState, Gate
from backfuture_daemon.configuration.models import Connection, DesiredState, Policy, Strategy
from backfuture_daemon.errors import BackfutureError, ConfigError, ConfigIssue, DecryptError
from backfuture_daemon.health import (
    CheckStep,
    ConnectionReport,
    ConnectionStatus,
    ErrorClass,
    StepStatus,
)
from backfuture_daemon.logs import log_event
from backfuture_daemon.reconciler.backoff import (
    BackoffPolicy,
    RandomSource,
    describe_delay,
    next_check_delay,
    transient_delay,
)
from backfuture_daemon.reconciler.desired import Desired
from backfuture_daemon.reconciler.plan import (
    Action,
    ForgetConnection,
    Observed,
    TestConnection,
    plan,
)
from backfuture_daemon.reconciler.state import (
    ConfigStatus,
    ConnectionObservation,
    DaemonSnapshot,
    ReconcileResult,
)
from backfuture_daemon.reconciler.watch import Probe, probe_revision
from backfuture_daemon.redaction import scrub_text, shorten

log = logging.getLogger("backfuture.reconciler")

HISTORY = 5
EMPTY_CONFIG = "empty_config"
#: Config failures of the environment, not of the revision (a slow or overloaded machine, the age
#: key not mounted yet): the same digest is retried with backoff. Every other class is terminal
#: for its digest (Flux's TerminalError): not retried until the files change or a forced reconcile.
TRANSIENT_CONFIG_CLASSES = frozenset({"decrypt_timeout", "decrypt_key_missing"})


class Tester(Protocol):
    """The port to the connection test (exchanges/probes.py ConnectionTester, or a fake)."""

    async def test(
        self, connection: Connection, strategies: Sequence[Strategy], policy: Policy
    ) -> ConnectionReport: ...

    async def close(self) -> None: ...


Loader = Callable[[Path], DesiredState]  # sync (runs sops); raises ConfigError / DecryptError
ProbeFn = Callable[[Path], Probe]


@dataclass(frozen=True, slots=True)
class LoopSettings:
    resync_interval: float = 60.0
    check_timeout: float = 10.0
    shutdown_grace: float = 20.0
    max_concurrent_checks: int = 16
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)


def event(level: int, message: str, **fields: Any) -> None:
    """One log line per event, naming connection / strategy / revision / error_class."""
    clean = {k: v for k, v in fields.items() if v not in (None, "", ())}
    log_event(log, level, message, **clean)


def _safe(text: str, limit: int = 300) -> str:
    return shorten(scrub_text(text), limit)


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
        rand: RandomSource = random.random,
        probe: ProbeFn = probe_revision,
        version: str = "",
        sops_version: str = "",
        on_applied: Callable[[DesiredState], None] | None = None,
    ) -> None:
        self.config_path = config_path
        self._loader = loader
        self._tester = tester
        self._bots = lifecycle
        self._salt = salt
        self._settings = settings or LoopSettings()
        self._clock = clock
        self._rand = rand
        self._probe = probe
        self._on_applied = on_applied
        self._desired = Desired(None)
        self._config = ConfigStatus()
        self._last_probe: Probe | None = None
        self._config_failures = 0  # transient config failures in a row (same digest)
        self._config_retry_at: float | None = None  # when to retry a transient config failure
        self._loaded_once = False
        self._conns: dict[str, ConnectionObservation] = {}
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._due: list[tuple[float, str]] = []  # min-heap of (next_check_at, connection)
        self._history: deque[ReconcileResult] = deque(maxlen=HISTORY)
        self._sem = asyncio.Semaphore(self._settings.max_concurrent_checks)
        self._wake = asyncio.Event()
        self._force = False
        self._config_dirty = True
        self._shutting_down = False
        self._started_at = clock()
        self._heartbeat = self._started_at
        self._version = version
        self._sops_version = sops_version
        self._snapshot = self._build_snapshot()

    # -- triggers ---------------------------------------------------------------------------

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
        return self._desired

    async def drain(self) -> None:
        """Wait until no connection test is in flight (tests, benchmarks, shutdown)."""
        while self._in_flight:
            await asyncio.wait(list(self._in_flight.values()))

    def alive(self, max_age: float) -> bool:
        return self._clock() - self._heartbeat <= max_age

    # -- one pass ---------------------------------------------------------------------------

    async def reconcile_once(self, *, force: bool = False) -> tuple[Action, ...]:
        """Observe (config revision, test results), plan, apply. Returns the applied actions."""
        started = self._clock()
        self._heartbeat = started
        load_result: ReconcileResult | None = None
        if force or self._config_dirty or self._config_retry_due():
            self._config_dirty = False
            load_result = await self._observe_config(force=force)
            if force:
                self._recheck_failed_now()
        actions = plan(self._desired, self._observed(), self._clock())
        transitions = self._apply(actions)
        if load_result is not None or transitions:
            result = load_result or ReconcileResult(
                at=started, revision=self._config.applied_revision, result="success"
            )
            msg = "; ".join(m for m in (result.message, _summarise(transitions)) if m)
            self._history.append(
                replace(result, message=msg, duration_seconds=self._clock() - started)
            )
        self._publish()
        return actions

    async def _observe_config(self, *, force: bool) -> ReconcileResult | None:
        try:
            probe = await asyncio.to_thread(self._probe, self.config_path)
        except OSError as e:
            self._config_retry_at = None  # re-probed on every trigger anyway: never a timer spin
            text = f"cannot read: {e.strerror}"
            if (
                self._last_probe is None
                and self._config.last_error == f"{self.config_path}: {text}"
            ):
                return None  # still unreadable: counted and logged once already
            self._last_probe = None
            issue = ConfigIssue(str(self.config_path), "", text, "file_unreadable")
            return self._reject(None, [issue])
        last, self._last_probe = self._last_probe, probe
        retry = self._config_retry_due()  # a transient failure of this digest, backed off
        if not (force or retry) and last is not None and probe.digest == last.digest:
            # Same content (good or broken): nothing to load. Only the commit may have moved
            # (files are seen before `git commit` ends): relabel, never re-attempt or re-log.
            if probe.commit != last.commit:
                good = self._config.last_error is None
                self._config = replace(
                    self._config,
                    attempted_revision=probe.revision_id,
                    applied_revision=(probe.revision_id if good else self._config.applied_revision),
                )
                self._publish()
            return None
        now = self._clock()
        self._config_retry_at = None
        self._config = replace(
            self._config, attempted_revision=probe.revision_id, attempted_digest=probe.digest
        )
        outcome: DesiredState | list[ConfigIssue]
        try:
            outcome = await asyncio.to_thread(self._loader, self.config_path)
        except ConfigError as e:
            outcome = list(e.issues)
        except DecryptError as e:
            outcome = [ConfigIssue(e.file, "", _safe(str(e)), e.error_class)]
        except BackfutureError as e:
            outcome = [ConfigIssue(str(self.config_path), "", _safe(str(e)), "file_unreadable")]
        if await self._changed_since(probe):
            # A pull or commit landed while the files were read (sops takes a while): what was
            # read may mix two revisions, or carry the next commit's name. Neither apply nor
            # reject it (no count, no log): read again at once.
            log.debug("config files changed while being read; reading again")
            self._last_probe = None
            self.request("config changed while it was read")
            return None
        if isinstance(outcome, list):
            return self._reject(probe, outcome)
        state = outcome
        running = [b for b in self._bots.bots.values() if b.state is BotState.RUNNING]
        empty = "connections" if not state.connections else "strategies"
        if running and not (state.connections and state.strategies):
            # Argo CD `allowEmpty: false`: an emptied revision is far more often a broken
            # checkout or merge than an intent; suspend strategies to stop every bot on purpose.
            issue = ConfigIssue(
                str(self.config_path),
                empty,
                f"revision has no {empty} while {len(running)} bot(s) run; refused "
                "(empty-set guard: set `suspend: true` to stop bots on purpose); the last good "
                "revision keeps running",
                EMPTY_CONFIG,
            )
            return self._reject(probe, [issue])
        return self._accept(probe, state, now)

    async def _changed_since(self, probe: Probe) -> bool:
        try:
            after = await asyncio.to_thread(self._probe, self.config_path)
        except OSError:
            return True
        return after.digest != probe.digest

    def _accept(self, probe: Probe, state: DesiredState, now: float) -> ReconcileResult:
        previous = self._desired.state
        self._desired = Desired.from_state(state, self._salt)
        # git-sync worktrees are named after their commit even where `git` cannot tell.
        revision = (
            probe.revision_id
            if state.revision.commit is None and probe.commit
            else state.revision.id
        )
        changed = previous is None or previous.revision.digest != state.revision.digest
        if not changed and state.revision.dirty and self._config.applied_revision:
            revision = self._config.applied_revision  # same content: keep its committed name
        reloads = dict(self._config.reloads_total)
        reloads["success"] = reloads.get("success", 0) + 1
        self._config = replace(
            self._config,
            applied_revision=revision,
            applied_digest=state.revision.digest,
            attempted_revision=revision,
            attempted_digest=state.revision.digest,
            last_error=None,
            last_success_at=now,
            reloads_total=reloads,
        )
        self._loaded_once = True
        self._config_failures = 0
        event(
            logging.INFO,
            "config revision applied" if changed else "config revision re-read, unchanged",
            revision=revision,
            connections=len(state.connections),
            strategies=len(state.strategies),
        )
        if self._on_applied is not None:
            self._on_applied(state)
        return ReconcileResult(
            at=now, revision=revision, result="success" if changed else "unchanged"
        )

    def _reject(self, probe: Probe | None, issues: list[ConfigIssue]) -> ReconcileResult:
        now = self._clock()
        classes = tuple(sorted({i.error_class for i in issues}))
        errors = dict(self._config.errors_total)
        for c in classes:
            errors[c] = errors.get(c, 0) + 1
        reloads = dict(self._config.reloads_total)
        reloads["failure"] = reloads.get("failure", 0) + 1
        text = _safe("; ".join(str(i) for i in issues), 2000)
        revision = probe.revision_id if probe else None
        self._config = replace(
            self._config,
            attempted_revision=revision,
            attempted_digest=probe.digest if probe else None,
            last_error=text,
            reloads_total=reloads,
            errors_total=errors,
        )
        self._loaded_once = True
        kept = self._config.applied_revision or "none"
        if probe is not None and classes and set(classes) <= TRANSIENT_CONFIG_CLASSES:
            self._config_failures += 1
            delay = transient_delay(self._config_failures, self._settings.backoff, self._rand)
            self._config_retry_at = now + delay
            next_step = f"transient; retry in {describe_delay(delay)}"
        else:
            self._config_failures = 0
            next_step = "not retried until the files change or a forced reconcile"
        # One line per rejected revision (not per pass: the digest is not re-attempted).
        first = issues[0] if issues else ConfigIssue(str(self.config_path), "", "invalid")
        more = f" (+{len(issues) - 1} more)" if len(issues) > 1 else ""
        event(
            logging.ERROR,
            f"config revision rejected: {text}{more}; keeping revision {kept}; {next_step}",
            revision=revision,
            error_class=",".join(classes),
            file=first.file,
            field=first.path,
        )
        return ReconcileResult(
            at=now, revision=revision, result="failure", message=text, error_classes=classes
        )

    def _config_retry_due(self) -> bool:
        return self._config_retry_at is not None and self._config_retry_at <= self._clock()

    def _recheck_failed_now(self) -> None:
        now = self._clock()
        for name, obs in list(self._conns.items()):
            if obs.report is not None and not obs.report.healthy:
                self._conns[name] = replace(obs, next_check_at=now)

    def _observed(self) -> Observed:
        return Observed(
            connections=dict(self._conns),
            bots=dict(self._bots.bots),
            in_flight=frozenset(self._in_flight),
        )

    # -- apply ------------------------------------------------------------------------------

    def _apply(self, actions: tuple[Action, ...]) -> list[Transition]:
        transitions: list[Transition] = []
        for action in actions:
            if isinstance(action, ForgetConnection):
                self._conns.pop(action.name, None)
                what = (
                    "suspended: not tested"
                    if action.name in self._desired.fingerprints
                    else ("removed from config")
                )
                event(logging.INFO, f'connection "{action.name}" {what}', connection=action.name)
            elif isinstance(action, TestConnection):
                if not self._shutting_down:
                    self._start_test(action)
            elif isinstance(action, BotCommand):
                t = self._bots.apply(action)
                if t is not None:
                    transitions.append(t)
                    self._log_transition(t)
        return transitions

    def _log_transition(self, t: Transition) -> None:
        bot = t.bot
        verb = {BotState.RUNNING: "started", BotState.PAUSED: "paused", BotState.STOPPED: "stopped"}
        text = verb[bot.state] if t.changed_state else f"still {bot.state.value}"
        # A new bot waiting for its first test is routine; leaving `running` is worth a warning.
        level = logging.WARNING if t.previous is BotState.RUNNING else logging.INFO
        event(
            level,
            f'bot "{bot.strategy}" {text}: {_safe(bot.reason)}',
            strategy=bot.strategy,
            connection=bot.connection,
            revision=self._config.applied_revision,
            state=bot.state.value,
        )

    def _start_test(self, action: TestConnection) -> None:
        state = self._desired.state
        assert state is not None
        conn = state.connection(action.name)
        fp = self._desired.fingerprints[action.name]
        inputs = self._desired.inputs[action.name]
        task = asyncio.create_task(
            self._run_test(conn, state.strategies_for(conn.name), state.policy, fp, inputs, action),
            name=f"backfuture-test-{conn.name}",
        )
        self._in_flight[conn.name] = task

    async def _run_test(
        self,
        conn: Connection,
        strategies: Sequence[Strategy],
        policy: Policy,
        fingerprint: str,
        inputs: str,
        action: TestConnection,
    ) -> None:
        try:
            async with self._sem:
                started = self._clock()
                try:
                    report = await asyncio.wait_for(
                        self._tester.test(conn, strategies, policy), self._settings.check_timeout
                    )
                except TimeoutError:
                    report = _synthetic(
                        conn,
                        ErrorClass.EXCHANGE_UNAVAILABLE,
                        f"connection test timed out after {self._settings.check_timeout:g}s",
                    )
                except Exception as e:  # the tester must not raise; never let it kill the loop
                    report = _synthetic(
                        conn, ErrorClass.UNKNOWN_ERROR, f"{type(e).__name__}: {_safe(str(e))}"
                    )
                if report.duration_seconds is None:
                    report = replace(report, duration_seconds=self._clock() - started)
                if report.checked_at is None:
                    report = replace(report, checked_at=self._clock())
            self._record(conn, report, fingerprint, inputs, action.reason)
        finally:
            self._in_flight.pop(conn.name, None)
            self.request(f"connection {conn.name} tested", config=False)

    def _record(
        self, conn: Connection, report: ConnectionReport, fp: str, inputs: str, why: str
    ) -> None:
        if self._desired.fingerprints.get(conn.name) is None:
            return  # removed from config while it was being tested
        old = self._conns.get(conn.name)
        previous_failures = old.consecutive_failures if old and old.fingerprint == fp else 0
        failures = 0 if report.healthy else previous_failures + 1
        delay = next_check_delay(report, failures, self._settings.backoff, self._rand)
        now = self._clock()
        checks = dict(old.checks_total) if old else {}
        checks[report.status.value] = checks.get(report.status.value, 0) + 1
        self._conns[conn.name] = ConnectionObservation(
            name=conn.name,
            exchange=conn.exchange.value,
            report=report,
            fingerprint=fp,
            next_check_at=now + delay,
            consecutive_failures=failures,
            checks_total=checks,
            inputs_digest=inputs,
            last_reason=why,
        )
        heapq.heappush(self._due, (now + delay, conn.name))
        self._log_check(conn, report, old, delay, failures)

    def _log_check(
        self,
        conn: Connection,
        report: ConnectionReport,
        old: ConnectionObservation | None,
        delay: float,
        failures: int,
    ) -> None:
        old_report = old.report if old else None
        changed = old_report is None or (
            (old_report.status, old_report.error_classes) != (report.status, report.error_classes)
        )
        classes = ",".join(c.value for c in report.error_classes)
        reasons = "; ".join(
            _safe(s.reason, 160) for s in report.steps if s.status is StepStatus.FAIL and s.reason
        )
        nbots = len(self._desired.state.strategies_for(conn.name)) if self._desired.state else 0
        if report.healthy:
            what = f"{report.status.value}; bots may run" + (f" ({nbots})" if nbots else "")
            level = logging.INFO if changed else logging.DEBUG
        else:
            what = f"{classes or report.status.value}" + (f" ({reasons})" if reasons else "")
            what += "; its bots paused" if nbots else ""
            backoff = f"backoff #{failures}, " if report.transient else ""
            what += f"; {backoff}re-check in {describe_delay(delay)}"
            level = logging.WARNING if changed else logging.INFO
        event(
            level,
            f'connection "{conn.name}": {what}',
            connection=conn.name,
            exchange=conn.exchange.value,
            revision=self._config.applied_revision,
            error_class=classes,
            status=report.status.value,
        )

    # -- snapshot ---------------------------------------------------------------------------

    def _build_snapshot(self) -> DaemonSnapshot:
        state = self._desired.state
        conns: list[ConnectionObservation] = []
        if state is not None:
            for c in sorted(state.connections, key=lambda c: c.name):
                obs = self._conns.get(c.name)
                if obs is None:
                    obs = ConnectionObservation(
                        name=c.name,
                        exchange=c.exchange.value,
                        report=None,
                        fingerprint=self._desired.fingerprints.get(c.name, ""),
                    )
                conns.append(obs)
        bots = tuple(
            b for _, b in sorted(self._bots.bots.items()) if b.state is not BotState.STOPPED
        )
        return DaemonSnapshot(
            config=self._config,
            connections=tuple(conns),
            bots=bots,
            history=tuple(self._history),
            ready=self._loaded_once and self._desired.state is not None,
            shutting_down=self._shutting_down,
            version=self._version,
            sops_version=self._sops_version,
            fingerprint_salt=self._salt,
            started_at=self._started_at,
            heartbeat_at=self._heartbeat,
        )

    def _publish(self) -> None:
        self._snapshot = self._build_snapshot()

    # -- the loop ---------------------------------------------------------------------------

    def _next_due(self) -> float | None:
        """Earliest pending re-check; stale heap entries (rescheduled, removed) are dropped."""
        while self._due:
            at, name = self._due[0]
            obs = self._conns.get(name)
            if (
                obs is None
                or obs.next_check_at != at
                or name in self._in_flight
                or not self._testable(name)
            ):
                heapq.heappop(self._due)
                continue
            return at
        return None

    def _testable(self, name: str) -> bool:
        state = self._desired.state
        return state is not None and any(
            c.name == name and not c.suspend for c in state.connections
        )

    async def run(self, stop: asyncio.Event, *, watch: bool = True) -> None:
        """Until `stop` is set: reconcile on every trigger. Then shut down gracefully."""
        watcher: asyncio.Task[None] | None = None
        if watch:
            from backfuture_daemon.reconciler.watch import watch_config

            watcher = asyncio.create_task(
                watch_config(self.config_path, lambda why: self.request(why), stop),
                name="backfuture-watch",
            )
        next_resync = time.monotonic() + self._settings.resync_interval
        force = True
        try:
            while not stop.is_set():
                await self.reconcile_once(force=force)
                force = False
                timeout = next_resync - time.monotonic()
                for due in (self._next_due(), self._config_retry_at):
                    if due is not None:
                        timeout = min(timeout, due - self._clock())
                # At least a few ms: a due time the planner does not act on must never spin.
                await _wait_any(self._wake, stop, max(timeout, 0.005))
                self._wake.clear()
                if time.monotonic() >= next_resync:
                    self._config_dirty = True
                    next_resync = time.monotonic() + self._settings.resync_interval
                force, self._force = self._force, False
        finally:
            stop.set()
            await self.shutdown()
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await watcher

    async def shutdown(self) -> None:
        """Readiness false, no new tests, in-flight tests finish within the grace period."""
        if self._shutting_down:
            return
        self._shutting_down = True
        self._publish()
        pending = list(self._in_flight.values())
        if pending:
            event(logging.INFO, f"shutting down: waiting for {len(pending)} connection test(s)")
            _, late = await asyncio.wait(pending, timeout=self._settings.shutdown_grace)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=1.0)
                event(logging.WARNING, f"shutdown: cancelled {len(late)} late connection test(s)")
            self._pause_after_drain()
        self._publish()

    def _pause_after_drain(self) -> None:
        """Results that came in while draining may pause bots (a key revoked meanwhile must be
        persisted as paused); nothing starts once shutdown began."""
        actions = plan(self._desired, self._observed(), self._clock())
        self._apply(tuple(a for a in actions if isinstance(a, BotCommand) and a.gate is Gate.PAUSE))


async def _wait_any(wake: asyncio.Event, stop: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.create_task(wake.wait()), asyncio.create_task(stop.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)


def _synthetic(conn: Connection, error_class: ErrorClass, reason: str) -> ConnectionReport:
    status = (
        ConnectionStatus.UNKNOWN
        if error_class in (ErrorClass.EXCHANGE_UNAVAILABLE, ErrorClass.UNKNOWN_ERROR)
        else ConnectionStatus.FAILED
    )
    step = CheckStep("test", StepStatus.FAIL, reason, error_class)
    return ConnectionReport(
        connection=conn.name,
        exchange=conn.exchange.value,
        status=status,
        steps=(step,),
        error_classes=(error_class,),
    )


def _summarise(transitions: list[Transition]) -> str:
    counts: dict[str, int] = {}
    for t in transitions:
        counts[t.bot.state.value] = counts.get(t.bot.state.value, 0) + 1
    return ", ".join(f"{n} bot(s) {s}" for s, n in sorted(counts.items()))
