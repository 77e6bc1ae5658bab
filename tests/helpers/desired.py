"""Builders of desired states, reports and fakes at the exchange port, for reconciler unit tests.

Used by tests/unit/test_plan.py and tests/unit/test_loop.py: real models, no sops, no network.
`FakeTester` returns scripted `ConnectionReport`s per connection name and records every call;
`start_bot` / `pause_bot` / `stop_bot` build the planner's bot commands.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import SecretStr

from backfuture_daemon.bots.model import BotCommand, Gate
from backfuture_daemon.configuration.desired_state import DesiredState
from backfuture_daemon.configuration.identity import Revision
from backfuture_daemon.configuration.models import (
    Connection,
    Policy,
    Strategy,
)
from backfuture_daemon.health import (
    CheckStep,
    ConnectionReport,
    ConnectionStatus,
    ErrorClass,
    StepStatus,
)


def conn(name: str = "MEXC Main", key: str = "mx0vKEYaaaa1111", **over: Any) -> Connection:
    fields: dict[str, Any] = {
        "name": name,
        "exchange": "mexc",
        "api_key": SecretStr(key),
        "api_secret": SecretStr("SECRETbbbb2222cccc"),
    }
    fields.update(over)
    return Connection(**fields)


def strat(name: str = "BTC Bot", connection: str = "MEXC Main", **over: Any) -> Strategy:
    fields: dict[str, Any] = {
        "name": name,
        "connection": connection,
        "pairs": ("BTC/USDT",),
        "margin_limit": 100,
    }
    fields.update(over)
    return Strategy(**fields)


def desired_state(
    connections: Sequence[Connection], strategies: Sequence[Strategy], digest: str = "d1"
) -> DesiredState:
    return DesiredState(
        revision=Revision(digest=digest * 8),
        policy=Policy(),
        connections=tuple(connections),
        strategies=tuple(strategies),
        sources={},
    )


def report(
    name: str = "MEXC Main",
    status: ConnectionStatus = ConnectionStatus.ONLINE,
    *classes: ErrorClass,
    withdraw: bool | None = False,
) -> ConnectionReport:
    steps = tuple(
        CheckStep(c.value, StepStatus.FAIL, f"{c.value} from the fake", c) for c in classes
    ) or (CheckStep("auth", StepStatus.PASS),)
    return ConnectionReport(
        connection=name,
        exchange="mexc",
        status=status,
        steps=steps,
        error_classes=tuple(classes),
        permissions={"read": True, "trade": True, "futures": None, "withdraw": withdraw},
        key_masked="mx0v…1111",
    )


def online(name: str = "MEXC Main") -> ConnectionReport:
    return report(name)


def failed(name: str, *classes: ErrorClass) -> ConnectionReport:
    return report(name, ConnectionStatus.FAILED, *classes)


class FakeTester:
    """The exchange port without an exchange: scripted reports, recorded calls."""

    def __init__(self, default: ConnectionReport | None = None) -> None:
        self.scripts: dict[str, list[ConnectionReport]] = {}
        self.default = default
        self.calls: list[str] = []
        self.closed = False

    def script(self, name: str, *reports: ConnectionReport) -> None:
        self.scripts[name] = list(reports)

    async def test(
        self, connection: Connection, strategies: Sequence[Strategy], policy: Policy
    ) -> ConnectionReport:
        self.calls.append(connection.name)
        queue = self.scripts.get(connection.name)
        if queue:
            rep = queue.pop(0) if len(queue) > 1 else queue[0]
        elif self.default is not None:
            rep = self.default
        else:
            rep = online(connection.name)
        return ConnectionReport(**{**_fields(rep), "connection": connection.name})

    async def close(self) -> None:
        self.closed = True


def _fields(rep: ConnectionReport) -> dict[str, Any]:
    return {f: getattr(rep, f) for f in rep.__dataclass_fields__}


def start_bot(
    strategy: str, connection: str, reason: str, mode: str = "paper", market: str = "spot"
) -> BotCommand:
    return BotCommand(strategy, connection, Gate.RUN, reason, mode, market)


def pause_bot(
    strategy: str,
    connection: str,
    reason: str,
    mode: str = "paper",
    market: str = "spot",
    *,
    pending: bool = False,
) -> BotCommand:
    return BotCommand(strategy, connection, Gate.PAUSE, reason, mode, market, pending)


def waiting_bot(strategy: str, connection: str) -> BotCommand:
    """A bot paused until the first test of its connection in this process (pending)."""
    reason = f'waiting for the first test of "{connection}"'
    return pause_bot(strategy, connection, reason, pending=True)


def stop_bot(strategy: str, connection: str, reason: str) -> BotCommand:
    return BotCommand(strategy, connection, Gate.STOP, reason)
