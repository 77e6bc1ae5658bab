"""The live order path's own checks, as pure functions the runner (bots/runner.py) applies at the
send site: is this bot cleared to send (independently of its gate), does the account hold the
quote a buy needs (futures: the margin an opening order needs, notional / leverage), which open
orders carry our prefix without an intent, and the live id tag (deterministic per strategy and
connection, so a rebuilt state directory still knows its orders).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from decimal import Decimal

from backfuture_daemon.bots.spec import RunnerSpec
from backfuture_daemon.exchanges.port import Balance, OrderAck, Quote
from backfuture_daemon.strategy.orders import OrderKey, OrderSide, Place, Purpose


def live_epoch(spec: RunnerSpec) -> str:
    """The epoch of a live bot's client order ids: derived from (strategy, connection) only, not
    stored, so a daemon that lost its state directory recognises its own orders on the exchange
    (bots/live_rebuild.py) and reports foreign ones. Group ids never repeat: the rebuild starts
    numbering above every group the exchange shows."""
    digest = hashlib.sha256(f"live\0{spec.connection}".encode()).hexdigest()
    return f"live-{digest[:16]}"


def refusal(spec: RunnerSpec) -> str | None:
    """Why a live order must not leave now (None: it may). Paper orders are never refused here.

    A second, independent check next to the gate: the connection's last report in this process
    must be healthy and show no withdrawal permission (`RunnerSpec.may_send`)."""
    if spec.mode != "live":
        return None
    if not spec.may_send:
        return f"not sent: {spec.send_block or 'the connection is not cleared for live orders'}"
    return None


def buy_cost(place: Place, quote: Quote | None) -> Decimal:
    """Quote currency a buy needs: limit price × amount, or the ask for a market order."""
    if place.side is not OrderSide.BUY:
        return Decimal(0)
    price = place.price if place.price is not None else (quote.ask if quote else None)
    return (price or Decimal(0)) * place.amount


def is_exit(key: OrderKey) -> bool:
    """Does the order only close what its group holds (take profit, stop loss)? Decided by the
    order's purpose, never by the strategy's current side: a group keeps its side for life, so
    an old long group's take profit stays an exit after the strategy turned short. Exits are
    sent reduce-only on futures (`OrderRequest.reduce_only`)."""
    return key.purpose in (Purpose.TAKE_PROFIT, Purpose.STOP)


def opens(spec: RunnerSpec, place: Place) -> bool:
    """Does `place` open or add to a position (and so need funds)? A base order or an add, on
    either side (its group's); exits need none: on futures they are reduce-only. On spot only
    buys spend quote (a spot bot is long)."""
    if spec.market != "futures":
        return place.side is OrderSide.BUY
    return not is_exit(place.key)


def funds_needed(spec: RunnerSpec, place: Place, quote: Quote | None) -> Decimal:
    """Free quote (futures: available margin) `place` needs before it may leave: a spot buy its
    cost (`buy_cost`); a futures order that opens or adds its notional / leverage (isolated
    initial margin); an order on the closing side nothing."""
    if spec.market != "futures":
        return buy_cost(place, quote)
    if not opens(spec, place):
        return Decimal(0)
    touch = (quote.ask if place.side is OrderSide.BUY else quote.bid) if quote else None
    price = place.price if place.price is not None else touch
    return (price or Decimal(0)) * place.amount / max(spec.leverage, 1)


def shortfall(
    balances: Mapping[str, Balance], currency: str, needed: Decimal
) -> tuple[Decimal, Decimal] | None:
    """(needed, free) when the free balance of `currency` does not cover `needed`; else None."""
    row = balances.get(currency)
    free = row.free if row is not None else Decimal(0)
    return (needed, free) if needed > free else None


def orphans(open_orders: Iterable[OrderAck], prefix: str, known: Iterable[str]) -> tuple[str, ...]:
    """Client ids of open orders that carry our prefix but have no intent: reported, never
    cancelled (a human or another replica may own them)."""
    mine = set(known)
    return tuple(
        sorted(
            o.client_order_id
            for o in open_orders
            if o.client_order_id.startswith(prefix) and o.client_order_id not in mine
        )
    )
