"""What `GET /__sandbox/orders?api_key=...` shows of an account: every order ever accepted, with
its fills, and the perpetual positions, in exchange-neutral terms with exact decimals as text.
Called by `Sandbox.orders_of` (server.py) for audits, tests and the crash benchmark.
"""

from __future__ import annotations

from typing import Any

from backfuture_daemon.sandbox.engine import Account, Order, decimal_str
from backfuture_daemon.sandbox.positions import Position


def order_record(o: Order) -> dict[str, Any]:
    """An order as the audit route shows it: exchange-neutral, with its fills."""
    return {
        "order_id": o.id,
        "client_order_id": o.client_id or None,
        "market": o.market,
        "symbol": o.symbol,
        "instrument_id": o.instrument_id,
        "side": o.side,
        "type": o.type,
        "price": decimal_str(o.price) if o.price is not None else None,
        "amount": decimal_str(o.amount),
        "quote_amount": decimal_str(o.quote_amount) if o.quote_amount is not None else None,
        "status": o.status,
        "filled": decimal_str(o.filled),
        "cost": decimal_str(o.cost),
        "created_ms": o.created_ms,
        "updated_ms": o.updated_ms,
        "fills": [
            {"trade_id": f.trade_id, "time_ms": f.time_ms, "price": decimal_str(f.price),
             "amount": decimal_str(f.amount), "liquidity": "maker" if f.maker else "taker"}
            for f in o.fills
        ],
    }  # fmt: skip


def position_record(p: Position) -> dict[str, Any]:
    """A position as the audit route shows it."""
    return {
        "instrument_id": p.instrument_id,
        "symbol": p.symbol,
        "contracts": decimal_str(p.qty),
        "entry_price": decimal_str(p.entry),
        "leverage": decimal_str(p.leverage),
        "margin": decimal_str(p.margin),
        "realised_pnl": decimal_str(p.realised),
        "liquidated_at_ms": list(p.liquidations),
    }


def account_record(exchange: str, acct: Account | None) -> dict[str, Any]:
    if acct is None:
        return {"exchange": exchange, "orders": [], "positions": []}
    return {
        "exchange": exchange,
        "orders": [order_record(o) for o in acct.orders.values()],
        "positions": [position_record(p) for p in acct.futures.positions.values()],
    }
