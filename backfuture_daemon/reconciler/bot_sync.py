"""Which bot runners should trade, and how: lifecycle states + the applied config -> orders.

Pure (no clock, I/O or asyncio). daemon.py calls `bot_orders` whenever the reconcile loop's bot
states or the applied revision change and hands each `BotOrder` to the bot supervisor. The gate
comes only from the lifecycle the reconciler drives (a bot runs only while its connection has
passed a test in this process), so this module can never start a bot the planner paused. A live
bot's spec also carries `may_send` from the connection's last report (`send_clearance`), which
the runner checks again at the send site, independently of the gate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from backfuture_daemon.bots.intents import ID_LIMITS, id_separator
from backfuture_daemon.bots.model import BotState, BotStatus, Gate
from backfuture_daemon.bots.spec import RunnerSpec
from backfuture_daemon.configuration.desired_state import DesiredState
from backfuture_daemon.configuration.models import Connection, Endpoints, Strategy
from backfuture_daemon.health import ConnectionReport, ErrorClass, Permission

#: The lifecycle's state -> what the runner may do.
_GATES = {BotState.RUNNING: Gate.RUN, BotState.PAUSED: Gate.PAUSE, BotState.STOPPED: Gate.STOP}


@dataclass(frozen=True, slots=True)
class BotOrder:
    """Bring the runner of `spec.strategy` to `gate`; its quotes come from (exchange, endpoints)."""

    spec: RunnerSpec
    gate: Gate
    exchange: str
    endpoints: Endpoints | None


@dataclass(frozen=True, slots=True)
class BotPlan:
    orders: tuple[BotOrder, ...]


def send_clearance(report: ConnectionReport | None) -> str | None:
    """None when a live order may leave on this connection: its last test in this process
    passed (online or degraded) and the key shows no withdrawal permission; else why not."""
    if report is None:
        return "the connection has not passed a test in this process"
    withdraw = report.permissions.get(Permission.WITHDRAW.value)
    if withdraw is True or ErrorClass.WITHDRAW_ENABLED in report.error_classes:
        return "the key has withdrawal permission"
    if not report.healthy:
        return f"the connection's last test failed ({report.status.value})"
    return None


def runner_spec(
    strategy: Strategy, connection: Connection, report: ConnectionReport | None = None
) -> RunnerSpec:
    block = send_clearance(report)
    return RunnerSpec(
        strategy=strategy.name,
        connection=connection.name,
        mode=strategy.mode.value,
        params=strategy.dca_params(),
        quote_currency=strategy.quote,
        paper_balance=(
            None if strategy.paper_balance is None else Decimal(str(strategy.paper_balance))
        ),
        id_limit=ID_LIMITS.get(connection.exchange.value, 32),
        id_sep=id_separator(connection.exchange.value),
        may_send=block is None,
        send_block=block or "",
        market=strategy.market.value,
        leverage=strategy.leverage if strategy.market.value == "futures" else 1,
    )


def bot_orders(
    state: DesiredState | None,
    bots: Sequence[BotStatus],
    running: Mapping[str, tuple[RunnerSpec, str, Endpoints | None]],
    reports: Mapping[str, ConnectionReport | None] | None = None,
) -> BotPlan:
    """One order per bot that has (or had) a runner. `running`: the supervisor's current runners
    (spec, exchange, endpoints), so a strategy removed from git is stopped on its last spec;
    `reports`: each connection's last test report in this process (None: never tested)."""
    reports = reports or {}
    strategies = {s.name: s for s in state.strategies} if state is not None else {}
    connections = {c.name: c for c in state.connections} if state is not None else {}
    orders: list[BotOrder] = []
    for bot in bots:
        strategy = strategies.get(bot.strategy)
        connection = connections.get(strategy.connection) if strategy is not None else None
        if strategy is None or connection is None:
            if bot.strategy in running:  # removed from git: stop on the spec it ran with
                spec, exchange, endpoints = running[bot.strategy]
                orders.append(BotOrder(spec, Gate.STOP, exchange, endpoints))
            continue
        # Suspended: no new groups or adds, resting entries cancelled, take profits per on_stop.
        gate = Gate.STOP if strategy.suspend else _GATES[bot.state]
        orders.append(
            BotOrder(
                runner_spec(strategy, connection, reports.get(connection.name)),
                gate,
                connection.exchange.value,
                connection.endpoints,
            )
        )
    return BotPlan(tuple(orders))
