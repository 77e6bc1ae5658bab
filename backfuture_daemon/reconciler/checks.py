"""Connection tests: run them (bounded, with a timeout), record results, know when each is due.

The loop (reconciler/loop.py) starts one task per `TestConnection` through the `Tester` port
(exchanges/probes.py ConnectionTester, or a fake) and reads `observations` back for the planner;
the pure helpers `recorded` / `synthetic` decide what a result means for scheduling and backoff.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Protocol

from backfuture_daemon.configuration.models import Connection, Policy, Strategy
from backfuture_daemon.health import (
    CheckStep,
    ConnectionReport,
    ConnectionStatus,
    ErrorClass,
    StepStatus,
)
from backfuture_daemon.reconciler import events
from backfuture_daemon.reconciler.backoff import BackoffPolicy, RandomSource, next_check_delay
from backfuture_daemon.reconciler.desired import Desired
from backfuture_daemon.reconciler.state import ConnectionObservation


class Tester(Protocol):
    """The port to the connection test (exchanges/probes.py ConnectionTester, or a fake)."""

    async def test(
        self, connection: Connection, strategies: Sequence[Strategy], policy: Policy
    ) -> ConnectionReport: ...

    async def close(self) -> None: ...


def synthetic(conn: Connection, error_class: ErrorClass, reason: str) -> ConnectionReport:
    """The report of a test that produced none (timed out, or the tester broke its contract)."""
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


def consecutive_failures(
    old: ConnectionObservation | None, fingerprint: str, report: ConnectionReport
) -> int:
    """Failures in a row including this result; a new key starts counting afresh."""
    previous = old.consecutive_failures if old and old.fingerprint == fingerprint else 0
    return 0 if report.healthy else previous + 1


def recorded(
    old: ConnectionObservation | None,
    conn: Connection,
    report: ConnectionReport,
    *,
    fingerprint: str,
    inputs: str,
    why: str,
    failures: int,
    next_check_at: float,
) -> ConnectionObservation:
    checks = dict(old.checks_total) if old else {}
    checks[report.status.value] = checks.get(report.status.value, 0) + 1
    return ConnectionObservation(
        name=conn.name,
        exchange=conn.exchange.value,
        report=report,
        fingerprint=fingerprint,
        next_check_at=next_check_at,
        consecutive_failures=failures,
        checks_total=checks,
        inputs_digest=inputs,
        last_reason=why,
    )


class ConnectionChecks:
    """Observations of every connection, the tests in flight and the heap of due re-checks.

    `desired` and `revision` are read when a result comes in (the config may have moved on while
    the test ran); `on_done(name)` wakes the loop after every test; `on_error(exc)` hears of a
    bug while recording a result (it must not vanish with the test's task).
    """

    def __init__(
        self,
        tester: Tester,
        *,
        desired: Callable[[], Desired],
        revision: Callable[[], str | None],
        on_done: Callable[[str], None],
        on_error: Callable[[Exception], None],
        emit: events.Emit,
        backoff: BackoffPolicy,
        check_timeout: float,
        max_concurrent: int,
        clock: Callable[[], float],
        rand: RandomSource,
    ) -> None:
        self.tester = tester
        self.observations: dict[str, ConnectionObservation] = {}
        self.in_flight: dict[str, asyncio.Task[None]] = {}
        self._due: list[tuple[float, str]] = []  # min-heap of (next_check_at, connection)
        self._desired = desired
        self._revision = revision
        self._on_done = on_done
        self._on_error = on_error
        self._emit = emit
        self._backoff = backoff
        self._timeout = check_timeout
        self._sem = asyncio.Semaphore(max_concurrent)
        self._clock = clock
        self._rand = rand

    def forget(self, name: str) -> None:
        self.observations.pop(name, None)

    def start(self, name: str, reason: str) -> None:
        """Test connection `name` of the current desired state in a task of its own."""
        desired = self._desired()
        state = desired.state
        assert state is not None
        conn = state.connection(name)
        self.in_flight[name] = asyncio.create_task(
            self._run(
                conn,
                state.strategies_for(name),
                state.policy,
                desired.fingerprints[name],
                desired.inputs[name],
                reason,
            ),
            name=f"backfuture-test-{name}",
        )

    async def drain(self) -> None:
        """Wait until no connection test is in flight."""
        while self.in_flight:
            await asyncio.wait(list(self.in_flight.values()))

    async def finish(self, grace: float) -> None:
        """Shutdown: in-flight tests get `grace` seconds, then are cancelled."""
        pending = list(self.in_flight.values())
        if not pending:
            return
        self._emit(events.shutdown_waiting(len(pending)))
        _, late = await asyncio.wait(pending, timeout=grace)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late, timeout=1.0)
            self._emit(events.shutdown_cancelled(len(late)))

    def recheck_failed_now(self) -> None:
        """A forced reconcile re-tests every failed connection at once."""
        now = self._clock()
        for name, obs in list(self.observations.items()):
            if obs.report is not None and not obs.report.healthy:
                self.observations[name] = replace(obs, next_check_at=now)

    def next_due(self) -> float | None:
        """Earliest pending re-check; stale heap entries (rescheduled, removed) are dropped."""
        state = self._desired().state
        testable = {c.name for c in state.connections if not c.suspend} if state else set()
        while self._due:
            at, name = self._due[0]
            obs = self.observations.get(name)
            if (
                obs is None
                or obs.next_check_at != at
                or name in self.in_flight
                or name not in testable
            ):
                heapq.heappop(self._due)
                continue
            return at
        return None

    async def _run(
        self,
        conn: Connection,
        strategies: Sequence[Strategy],
        policy: Policy,
        fingerprint: str,
        inputs: str,
        why: str,
    ) -> None:
        try:
            async with self._sem:
                started = self._clock()
                report = await self._test(conn, strategies, policy)
                if report.duration_seconds is None:
                    report = replace(report, duration_seconds=self._clock() - started)
                if report.checked_at is None:
                    report = replace(report, checked_at=self._clock())
            self._record(conn, report, fingerprint, inputs, why)
        except Exception as e:
            self._on_error(e)
            self._record_failed(conn, fingerprint, inputs, why)
        finally:
            self.in_flight.pop(conn.name, None)
            self._on_done(conn.name)

    async def _test(
        self, conn: Connection, strategies: Sequence[Strategy], policy: Policy
    ) -> ConnectionReport:
        try:
            report: object = await asyncio.wait_for(
                self.tester.test(conn, strategies, policy), self._timeout
            )
        except TimeoutError:
            reason = f"connection test timed out after {self._timeout:g}s"
            return synthetic(conn, ErrorClass.EXCHANGE_UNAVAILABLE, reason)
        except Exception as e:  # the tester must not raise; never let it kill the loop
            reason = f"{type(e).__name__}: {events.safe(str(e))}"
            return synthetic(conn, ErrorClass.UNKNOWN_ERROR, reason)
        if not isinstance(report, ConnectionReport):  # a tester that broke its contract
            reason = f"the tester returned {type(report).__name__}, not a report"
            return synthetic(conn, ErrorClass.UNKNOWN_ERROR, reason)
        return report

    def _record_failed(self, conn: Connection, fp: str, inputs: str, why: str) -> None:
        """A result that could not be recorded still schedules the next test, backed off without
        the code that just failed: never an immediate re-test, so never a hot loop."""
        old = self.observations.get(conn.name)
        reason = "the result of this test could not be recorded (a bug; see the log)"
        report = synthetic(conn, ErrorClass.UNKNOWN_ERROR, reason)
        failures = consecutive_failures(old, fp, report)
        delay = min(self._backoff.cap, self._backoff.base * 2.0 ** (failures - 1))
        self.observations[conn.name] = recorded(
            old,
            conn,
            report,
            fingerprint=fp,
            inputs=inputs,
            why=why,
            failures=failures,
            next_check_at=self._clock() + delay,
        )
        heapq.heappush(self._due, (self._clock() + delay, conn.name))

    def _record(
        self, conn: Connection, report: ConnectionReport, fp: str, inputs: str, why: str
    ) -> None:
        desired = self._desired()
        if desired.fingerprints.get(conn.name) is None:
            return  # removed from config while it was being tested
        old = self.observations.get(conn.name)
        failures = consecutive_failures(old, fp, report)
        delay = next_check_delay(report, failures, self._backoff, self._rand)
        due = self._clock() + delay
        self.observations[conn.name] = recorded(
            old,
            conn,
            report,
            fingerprint=fp,
            inputs=inputs,
            why=why,
            failures=failures,
            next_check_at=due,
        )
        heapq.heappush(self._due, (due, conn.name))
        bots = len(desired.state.strategies_for(conn.name)) if desired.state else 0
        self._emit(
            events.connection_checked(
                conn.name,
                conn.exchange.value,
                report,
                old.report if old else None,
                delay=delay,
                failures=failures,
                bots=bots,
                revision=self._revision(),
            )
        )
