"""What a bot runner is given (`RunnerSpec`) and what it shows (`BotSnapshot`): plain values.

The daemon builds a `RunnerSpec` per strategy from the GitOps config and hands it to
bots/supervisor.py; /status and the metrics read `BotSnapshot`s from `BotSupervisor.snapshot()`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any

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
    #: between the bot's tag and the order's in a client id ("" on OKX: bots/intents.id_separator).
    id_sep: str = "-"
    #: live only: the connection's last report in this process is healthy and shows no
    #: withdrawal permission (reconciler/bot_sync.py); checked again at the send site.
    may_send: bool = False
    #: why not, when `may_send` is False (shown in /status).
    send_block: str = ""
    #: spot | futures (the strategy's `market`): which trading port a live bot gets.
    market: str = "spot"
    #: futures only: the strategy's leverage (isolated margin); 1 on spot.
    leverage: int = 1


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
    #: The last mid price per pair the bot decided on (for charts); empty before the first quote.
    prices: Mapping[str, Decimal] = field(default_factory=dict)
    #: open orders on the exchange with this bot's id prefix but no intent (never cancelled).
    orphan_orders: tuple[str, ...] = ()
    #: why the bot holds its buys itself (e.g. `insufficient_funds: ...`), "" when it does not.
    hold_reason: str = ""
    #: long | short: the strategy's side (new groups open on it; each group keeps its own).
    side: str = "long"
    #: groups closed because the exchange no longer held their position (liquidated or closed
    #: by hand; bots/outside.py), over the book's life (kept in SQLite), and when the last was.
    closed_outside: int = 0
    closed_outside_at: float | None = None

    def as_status(self) -> dict[str, Any]:
        """Plain JSON data for /status: quote totals and amounts as exact decimal strings, prices
        to PRICE_DIGITS significant digits (display only), times as epoch seconds."""
        return {
            "strategy": self.strategy,
            "connection": self.connection,
            "trading_mode": self.mode,
            "gate": self.gate,
            "committed_quote": str(self.committed_quote),
            "margin_limit": str(self.margin_limit),
            "realized_pnl": str(self.realized_pnl),
            "closed_groups": self.closed_groups,
            "orders": [
                {"side": side, "result": result, "count": n}
                for (side, result), n in sorted(self.orders.items())
            ],
            "groups": [_group(g, self.prices.get(g.pair)) for g in self.groups],
            "skipped": [_skip(s) for s in self.skipped],
            "last_tick_at": self.last_tick_at,
            "last_error": self.last_error,
            "orphan_orders": list(self.orphan_orders),
            "hold_reason": self.hold_reason,
            "side": self.side,
            "closed_outside": self.closed_outside,
            "closed_outside_at": self.closed_outside_at,
        }


#: significant digits a price keeps in /status: a VWAP or an average is a quotient and can carry
#: 28 digits of noise; the book keeps them, the display does not.
PRICE_DIGITS = 12
_PRICE_CONTEXT = Context(prec=PRICE_DIGITS, rounding=ROUND_HALF_EVEN)


def _money(x: Decimal | None) -> str | None:
    return None if x is None else _price(x)


def _price(x: Decimal) -> str:
    """`x` to at most PRICE_DIGITS significant digits, without trailing zeros or an exponent
    (`100.0245364451413178949061231` -> `100.024536445`; `100` stays `100`)."""
    if not x.is_finite() or len(x.as_tuple().digits) <= PRICE_DIGITS:
        return str(x)
    rounded = _PRICE_CONTEXT.plus(x).normalize(_PRICE_CONTEXT)
    exponent = rounded.as_tuple().exponent
    if isinstance(exponent, int) and exponent > 0:  # 1.2E+5 -> 120000
        rounded = rounded.quantize(Decimal(1))
    return f"{rounded:f}"


def _group(g: GroupStatus, last_price: Decimal | None) -> dict[str, Any]:
    return {
        "pair": g.pair,
        "group_id": g.group_id,
        "opened_at": g.opened_at,
        "base_price": _money(g.base_price),
        "average_price": _money(g.average_price),
        "amount": str(g.amount),
        "filled_adds": g.filled_adds,
        "committed_quote": str(g.committed_quote),
        "take_profit_price": _money(g.take_profit_price),
        "mode": g.mode,
        "recovery_reason": g.recovery_reason,
        "recovery_since": g.recovery_since,
        "recovery_overdue": g.recovery_overdue,
        "add_prices": [_price(p) for p in g.add_prices],
        "last_price": _money(last_price),
        "side": g.side,
    }


def _skip(s: Skip) -> dict[str, Any]:
    return {
        "pair": s.pair,
        "purpose": s.purpose.value,
        "step": s.step,
        "reason": s.reason.value,
        "detail": s.detail,
    }
