"""What a bot runner is given (`RunnerSpec`) and what it shows (`BotSnapshot`): plain values.

The daemon builds a `RunnerSpec` per strategy from the GitOps config and hands it to
bots/supervisor.py; /status and the metrics read `BotSnapshot`s from `BotSupervisor.snapshot()`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from backfuture_daemon.strategy.orders import Skip
from backfuture_daemon.strategy.params import DcaParams
from backfuture_daemon.strategy.status import GroupStatus


@dataclass(frozen=True, slots=True)
class RunnerSpec:
    """What a runner needs of its strategy (built by the daemon from the GitOps `Strategy`)."""

    strategy: str
    connection: str
    mode: str  # paper | live
    params: DcaParams
    quote_currency: str
    #: the paper account's starting quote balance; None: the margin limit.
    paper_balance: Decimal | None = None
    #: longest client order id the exchange accepts (bots/intents.ID_LIMITS).
    id_limit: int = 32


@dataclass(frozen=True, slots=True)
class BotSnapshot:
    """One bot as /status and the metrics show it."""

    strategy: str
    connection: str
    mode: str
    gate: str
    groups: tuple[GroupStatus, ...]
    committed_quote: Decimal
    margin_limit: Decimal
    #: (side, result) -> count; result is the order's last known state (open, filled, …).
    orders: Mapping[tuple[str, str], int]
    realized_pnl: Decimal
    closed_groups: int
    skipped: tuple[Skip, ...]
    last_tick_at: float | None
    last_error: str
