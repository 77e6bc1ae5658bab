"""Rebuild a live bot's book from the exchange when SQLite holds none (new or lost state directory):
orders and fills carrying the bot's deterministic id prefix (bots/live_guard.live_epoch) are
replayed in time order through the runner's GroupBook operations and written back as intents and
ledger fills; with nothing visible, group ids start at the current minute (never reused). Client
ids do not say whether a group was in Recovery Mode; its resting take profit does (`recovered`).
Called once by bots/resume.py, before anything else, for such a bot.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from backfuture_daemon.exchanges.port import Fill, OrderAck, OrderRequest, OrderState, OrderType
from backfuture_daemon.logs import log_event
from backfuture_daemon.strategy.groups import GroupBook, RecoveryReason
from backfuture_daemon.strategy.orders import OrderKey, OrderSide, Place, Purpose
from backfuture_daemon.strategy.orders import OrderType as EngineOrderType
from backfuture_daemon.strategy.params import DcaParams, GroupSizing, MarketRules, Side
from backfuture_daemon.strategy.recovery import enters_recovery, take_profit_price

if TYPE_CHECKING:
    from backfuture_daemon.bots.runner import BotRunner

log = logging.getLogger("backfuture.bots")
_TAG = re.compile(r"g(\d+)([bats])(\d+)n(\d+)$")
_CODES = {p.code: p for p in Purpose}


@runtime_checkable
class OrderHistory(Protocol):
    """A trading port that can list past orders (exchanges/trading.CcxtTrading)."""

    async def orders_since(self, pair: str, since: float) -> tuple[OrderAck, ...]: ...


def order_key(client_order_id: str, prefix: str) -> OrderKey | None:
    """The OrderKey a client order id of this bot encodes; None for anything else."""
    if not client_order_id.startswith(prefix):
        return None
    m = _TAG.fullmatch(client_order_id[len(prefix) :])
    if m is None:
        return None
    return OrderKey(int(m[1]), _CODES[m[2]], int(m[3]), int(m[4]))


def replay(
    orders: list[tuple[OrderKey, OrderAck]],
    fills: list[tuple[OrderKey, Fill, Decimal]],
    sizing: GroupSizing,
    side: Side = Side.LONG,
) -> GroupBook:
    """The book these orders and fills (fee in quote) leave behind, replayed in time order:
    placed at creation, filled at each fill, cancelled (when the exchange says so) at the end.
    A group's side is its base order's (a sell opens a short); `side` where none is visible."""
    sides = {
        key.group_id: Side.SHORT if ack.side.value == "sell" else Side.LONG
        for key, ack in orders
        if key.purpose is Purpose.BASE
    }
    places = [(a.timestamp or 0.0, 0, n) for n, (_, a) in enumerate(orders)]
    executions = [(f.timestamp, 1, n) for n, (_, f, _) in enumerate(fills)]
    book = GroupBook()
    for _, kind, n in sorted(places + executions):
        if kind == 0:
            key, ack = orders[n]
            if all(g.id != key.group_id for g in book.groups):
                book = replace(book, next_group_id=key.group_id)
                group_side = sides.get(key.group_id, side)
                book, _ = book.open_group(ack.pair, sizing, ack.timestamp or 0.0, group_side)
            engine_type = EngineOrderType.LIMIT if ack.price else EngineOrderType.MARKET
            order_side = OrderSide(ack.side.value)
            book = book.apply(Place(key, ack.pair, order_side, engine_type, ack.amount, ack.price))
            continue
        key, fill, fee = fills[n]
        try:
            book = book.fill(key, fill.amount, fill.price, fee)
        except (KeyError, ValueError):
            continue  # a fill the book cannot place (its group closed): history only
    for key, ack in orders:
        if ack.state in (OrderState.CANCELED, OrderState.REJECTED):
            book = book.cancelled(key)
    top = max((k.group_id for k, _ in orders), default=0)
    return replace(book, next_group_id=max(book.next_group_id, top + 1))


def recovered(
    book: GroupBook,
    params: DcaParams,
    rules_of: Callable[[str], MarketRules | None],
    placed_at: Mapping[OrderKey, float],
) -> GroupBook:
    """`book` with every group whose resting take profit sits at Recovery Mode's price (and not
    at the normal one) back in Recovery Mode, since that order was placed. The reason is the
    state-based trigger the group still meets (adds or margin used), else the drawdown it met."""
    for g in book.groups:
        avg, rules = g.average_price, rules_of(g.pair)
        if g.in_recovery or avg is None or rules is None or not params.recovery.enabled:
            continue
        tp = next((o for o in g.open_orders(Purpose.TAKE_PROFIT) if o.price is not None), None)
        if tp is None or tp.price == take_profit_price(g, params, rules):
            continue
        reason = enters_recovery(g, params, avg) or RecoveryReason.DRAWDOWN
        was = replace(g, recovery_reason=reason, recovery_since=placed_at.get(tp.key))
        if tp.price == take_profit_price(was, params, rules):
            book = book.with_group(was)
    return book


async def rebuild(runner: BotRunner) -> int:
    """Rebuild and commit the book of a live bot that has none; returns the orders found."""
    port = runner.port
    if not isinstance(port, OrderHistory):
        return 0
    prefix = runner.intents.prefix()
    orders: list[tuple[OrderKey, OrderAck]] = []
    fills: list[tuple[OrderKey, Fill, Decimal]] = []
    for pair in runner.pairs():
        for ack in await port.orders_since(pair, 0.0):
            key = order_key(ack.client_order_id, prefix)
            if key is not None:
                orders.append((key, ack))
        for fill in await port.fills_since(pair, 0.0):
            key = order_key(fill.client_order_id or "", prefix)
            if key is not None:
                fee = fill.fee if fill.fee_currency == runner.spec.quote_currency else (
                    fill.fee * fill.price)  # fmt: skip
                fills.append((key, fill, fee))
    book = replay(orders, fills, runner.spec.params.sizing, runner.spec.params.side)
    now = runner.clock()
    placed_at = {key: ack.timestamp or now for key, ack in orders}
    book = recovered(book, runner.spec.params, runner.rules_of, placed_at)
    if not orders:
        # Nothing visible (a new bot, or one idle beyond the exchange's order history): number
        # groups from the minute, so ids of groups older than that history are never reused.
        book = replace(book, next_group_id=max(book.next_group_id, int(now // 60)))
    with runner.intents.db.transaction():
        for key, ack in orders:
            kind = OrderType.LIMIT if ack.price else OrderType.MARKET
            request = OrderRequest(ack.pair, ack.side, kind, ack.amount,
                                   ack.client_order_id, ack.price)  # fmt: skip
            runner.intents.write(key, request)
            runner.intents.answered(ack)
        for _, fill, _ in fills:
            runner.intents.record_fill(fill)
        runner.save_book(book, now)
    log_event(log, "INFO", "live book rebuilt from the exchange", strategy=runner.spec.strategy,
              orders=len(orders), fills=len(fills), groups=len(book.groups),
              committed_quote=str(book.committed_quote))  # fmt: skip
    return len(orders)
