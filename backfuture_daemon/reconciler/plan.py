"""The planner: desired (last good config) + observed (tests, bots) -> the actions to take.

Pure (kopf `detect_changing_cause` style): no clock, network or env; `now` is passed in. Called by
the loop on every pass and by `backfuture plan`; emits the bots' own `BotCommand`. Idempotent and
deterministic (same inputs, same tuple, same order).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from backfuture_daemon.bots.model import BotCommand, BotState, BotStatus, Gate
from backfuture_daemon.configuration.models import Strategy
from backfuture_daemon.reconciler.desired import Desired
from backfuture_daemon.reconciler.gate import Verdict, bot_verdict
from backfuture_daemon.reconciler.state import ConnectionObservation


@dataclass(frozen=True, slots=True)
class Observed:
    connections: Mapping[str, ConnectionObservation] = field(default_factory=dict)
    bots: Mapping[str, BotStatus] = field(default_factory=dict)  # strategy -> bot
    in_flight: frozenset[str] = frozenset()  # connections being tested right now


@dataclass(frozen=True, slots=True)
class TestConnection:
    __test__: ClassVar[bool] = False  # not a pytest class
    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class ForgetConnection:
    name: str


#: Bot actions are the bots' own type (bots/model.py): the planner speaks the bots' language.
Action = TestConnection | ForgetConnection | BotCommand

NO_CONFIG = "no valid config"
REMOVED = "strategy removed from git"


def plan(desired: Desired, observed: Observed, now: float) -> tuple[Action, ...]:
    """Actions in a fixed order: forget, test, stop, pause, run; each group sorted by name."""
    forget = _forget(desired, observed)
    tests = _tests(desired, observed, now)
    stops, pauses, starts = _bots(desired, observed)
    return (*forget, *tests, *stops, *pauses, *starts)


def _forget(desired: Desired, observed: Observed) -> list[Action]:
    # A suspended connection is not tested: drop its old result rather than show it as current.
    state = desired.state
    wanted = {c.name for c in state.connections if not c.suspend} if state else set()
    return [ForgetConnection(n) for n in sorted(observed.connections) if n not in wanted]


def _tests(desired: Desired, observed: Observed, now: float) -> list[Action]:
    if desired.state is None:
        return []
    out: list[Action] = []
    for conn in sorted(desired.state.connections, key=lambda c: c.name):
        if conn.suspend or conn.name in observed.in_flight:
            continue
        reason = _test_reason(desired, observed.connections.get(conn.name), now)
        if reason:
            out.append(TestConnection(conn.name, reason))
    return out


def _test_reason(desired: Desired, obs: ConnectionObservation | None, now: float) -> str:
    if obs is None:
        return "new connection"
    name = obs.name
    if obs.report is None:
        return "not tested yet"
    if obs.fingerprint != desired.fingerprints.get(name, ""):
        return "key or settings changed"
    if obs.inputs_digest != desired.inputs.get(name, ""):
        return "policy or strategies changed"
    if obs.next_check_at is not None and obs.next_check_at <= now:
        return "scheduled re-check"
    return ""


def _verdict_for(desired: Desired, observed: Observed, strategy: Strategy) -> Verdict:
    state = desired.state
    assert state is not None
    conn = next((c for c in state.connections if c.name == strategy.connection), None)
    obs = observed.connections.get(strategy.connection)
    report = obs.report if obs else None
    current = obs is not None and obs.fingerprint == desired.fingerprints.get(strategy.connection)
    return bot_verdict(strategy, conn, report, fingerprint_current=current)


def _bots(desired: Desired, observed: Observed) -> tuple[list[Action], list[Action], list[Action]]:
    stops: list[Action] = []
    pauses: list[Action] = []
    starts: list[Action] = []
    state = desired.state
    if state is None:
        # Without a valid config nothing can be verified: pause, never stop (nothing was removed).
        for name in sorted(observed.bots):
            paused = observed.bots[name]
            if paused.state is BotState.RUNNING or (
                paused.state is BotState.PAUSED and paused.reason != NO_CONFIG
            ):
                pauses.append(
                    BotCommand(
                        name, paused.connection, Gate.PAUSE, NO_CONFIG, paused.mode, paused.market
                    )
                )
        return stops, pauses, starts

    wanted = {s.name for s in state.strategies}
    for name in sorted(observed.bots):
        old = observed.bots[name]
        if name not in wanted and old.state is not BotState.STOPPED:
            stops.append(BotCommand(name, old.connection, Gate.STOP, REMOVED, old.mode, old.market))

    for strategy in sorted(state.strategies, key=lambda s: s.name):
        bot = observed.bots.get(strategy.name)
        verdict = _verdict_for(desired, observed, strategy)
        mode, market = strategy.mode.value, strategy.market.value
        same_target = (
            bot is not None
            and bot.connection == strategy.connection
            and bot.mode == mode
            and bot.market == market
        )
        command = BotCommand(
            strategy.name,
            strategy.connection,
            verdict.gate,
            verdict.reason,
            mode,
            market,
            pending=verdict.pending,
        )
        if verdict.allowed:
            if not (same_target and bot is not None and bot.state is BotState.RUNNING):
                starts.append(command)
            continue
        # PENDING (no test of this connection in this process yet, e.g. just after a restart)
        # pauses like DENY: a bot never runs on a key nobody has tested since start-up; the
        # persisted state stays visible as the bot's previous state (bots/lifecycle.py).
        if not (
            same_target
            and bot is not None
            and bot.state is BotState.PAUSED
            and bot.reason == verdict.reason
        ):
            pauses.append(command)
    return stops, pauses, starts
