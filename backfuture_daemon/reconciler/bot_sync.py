"""Which bot runners should trade, and how: lifecycle states + the applied config -> orders.

Pure (no clock, I/O or asyncio). daemon.py calls `bot_orders` whenever the reconcile loop's bot
states or the applied revision change and hands each `BotOrder` to the bot supervisor. The gate
comes only from the lifecycle the reconciler drives (a bot runs only while its connection has
passed a test in this process), so this module can never start a bot the planner paused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from backfuture_daemon.bots.intents import ID_LIMITS
from backfuture_daemon.bots.model import BotState, BotStatus, Gate
from backfuture_daemon.bots.spec import RunnerSpec
from backfuture_daemon.configuration.models import Connection, DesiredState, Endpoints, Strategy

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
    #: Strategies in live mode: not traded by this version (no live order path yet).
    idle_live: tuple[str, ...]


def runner_spec(strategy: Strategy, connection: Connection) -> RunnerSpec:
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
    )


def bot_orders(
    state: DesiredState | None,
    bots: Sequence[BotStatus],
    running: Mapping[str, tuple[RunnerSpec, str, Endpoints | None]],
) -> BotPlan:
    """One order per bot that has (or had) a runner. `running`: the supervisor's current runners
    (spec, exchange, endpoints), so a strategy removed from git is stopped on its last spec."""
    strategies = {s.name: s for s in state.strategies} if state is not None else {}
    connections = {c.name: c for c in state.connections} if state is not None else {}
    orders: list[BotOrder] = []
    idle: list[str] = []
    for bot in bots:
        strategy = strategies.get(bot.strategy)
        connection = connections.get(strategy.connection) if strategy is not None else None
        if strategy is None or connection is None:
            if bot.strategy in running:  # removed from git: stop on the spec it ran with
                spec, exchange, endpoints = running[bot.strategy]
                orders.append(BotOrder(spec, Gate.STOP, exchange, endpoints))
            continue
        if strategy.mode.value == "live":
            idle.append(strategy.name)
            continue
        # Suspended: no new groups or adds, resting entries cancelled, take profits per on_stop.
        gate = Gate.STOP if strategy.suspend else _GATES[bot.state]
        orders.append(
            BotOrder(
                runner_spec(strategy, connection),
                gate,
                connection.exchange.value,
                connection.endpoints,
            )
        )
    return BotPlan(tuple(orders), tuple(idle))
