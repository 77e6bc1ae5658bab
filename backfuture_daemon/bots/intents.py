"""Client order ids and the intent log: an order is committed to SQLite before it is sent.

`client_order_id` derives a deterministic id from (strategy, group, purpose, step, attempt), within
each exchange's limits. `IntentLog.submit` writes and commits the intent, sends it, then records the
answer; fills are recorded once, keyed by trade id. Used by bots/runner.py (every order it sends)
and by its resume step (intents whose outcome is unknown are looked up by client order id).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from decimal import Decimal

from backfuture_daemon.bots.db import Database
from backfuture_daemon.exchanges.port import (
    Fill,
    OrderAck,
    OrderRejected,
    OrderRequest,
    OrderState,
    OrderType,
    Side,
    TradingPort,
    TradingUnavailable,
)
from backfuture_daemon.strategy.orders import OrderKey, Purpose

#: Longest client order id each exchange accepts (MEXC spot `newClientOrderId` 32, KuCoin
#: `clientOid` 40, Binance `newClientOrderId` 36, OKX `clOrdId` 32, Bybit `orderLinkId` 36).
ID_LIMITS = {"mexc": 32, "kucoin": 40, "binance": 36, "okx": 32, "bybit": 36}
#: Exchanges whose client ids take letters and digits only (OKX `clOrdId`): no '-' separator
#: there (the strategy tag has a fixed length, so the id still parses without it).
ALNUM_IDS = frozenset({"okx"})


def id_separator(exchange: str) -> str:
    """What separates the bot's tag from the order's in a client order id on `exchange`."""
    return "" if exchange in ALNUM_IDS else "-"


_ID_CHARSET = re.compile(r"^[A-Za-z0-9_-]+$")


def strategy_tag(strategy: str, epoch: str = "") -> str:
    """10 hex characters naming the strategy (any characters) and its book's epoch in every id."""
    return hashlib.sha256(f"{strategy}\0{epoch}".encode()).hexdigest()[:10]


def client_order_id(
    strategy: str, key: OrderKey, *, limit: int = 32, epoch: str = "", sep: str = "-"
) -> str:
    """`bf<strategy tag>-g<group><purpose code><step>n<attempt>`, e.g. `bf3fa2c9d01e-g12a3n7`.

    The same inputs always give the same id, so an order re-sent after a crash is the same order
    at the exchange. `epoch` is the book's (books.BookStore.epoch): a book started afresh (state
    directory wiped, other mode) never reuses an id of an older one at the exchange. Raises
    ValueError when it cannot fit `limit` (never truncated: two orders would share an id).
    `sep`: "-", or "" where the exchange takes letters and digits only (`id_separator`)."""
    cid = f"bf{strategy_tag(strategy, epoch)}{sep}{key.tag()}"
    if len(cid) > limit or not _ID_CHARSET.match(cid):
        raise ValueError(f"client order id {cid!r} does not fit the exchange ({limit} chars)")
    return cid


#: intent states: written, not answered yet; or the exchange's answer; `unknown`: the send failed
#: temporarily (timeout) and only a lookup by client order id can tell; `lost`: it never arrived.
PENDING, UNKNOWN, LOST, REJECTED = "pending", "unknown", "lost", "rejected"
UNSETTLED = (PENDING, UNKNOWN)


@dataclass(frozen=True, slots=True)
class Intent:
    client_order_id: str
    key: OrderKey
    pair: str
    side: Side
    state: str
    #: when the intent was written or last answered (epoch seconds).
    updated_at: float = 0.0


class IntentLog:
    """One bot's intents and fills in the shared database (rows keyed by strategy and mode)."""

    def __init__(
        self,
        db: Database,
        strategy: str,
        mode: str,
        clock: Callable[[], float],
        *,
        limit: int = 32,
        epoch: str = "",
        sep: str = "-",
    ) -> None:
        self.db, self.strategy, self.mode, self.limit = db, strategy, mode, limit
        self._clock, self.epoch, self.sep = clock, epoch, sep

    def client_id(self, key: OrderKey) -> str:
        return client_order_id(self.strategy, key, limit=self.limit, epoch=self.epoch, sep=self.sep)

    def prefix(self) -> str:
        """What every client order id of this bot starts with (`bf<tag>-`, or `bf<tag>`)."""
        return f"bf{strategy_tag(self.strategy, self.epoch)}{self.sep}"

    # ---- writing -------------------------------------------------------------------------

    def write(self, key: OrderKey, order: OrderRequest) -> None:
        """Commit the intent (joins an outer transaction when there is one). Idempotent."""
        now = self._clock()
        with self.db.transaction() as c:
            c.execute(
                "INSERT INTO orders (strategy, mode, client_order_id, group_id, purpose, step,"
                " attempt, pair, side, type, amount, price, state, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(strategy, mode, client_order_id) DO NOTHING",
                (self.strategy, self.mode, order.client_order_id, str(key.group_id),
                 key.purpose.value, key.step, key.serial, order.pair, order.side.value,
                 order.type.value, str(order.amount),
                 None if order.price is None else str(order.price), PENDING, now, now),
            )  # fmt: skip

    def answered(self, ack: OrderAck) -> None:
        self._set(ack.client_order_id, ack.state.value, ack.order_id, str(ack.filled), "")

    def failed(self, client_order_id: str, error: OrderRejected | TradingUnavailable) -> None:
        state = REJECTED if isinstance(error, OrderRejected) else UNKNOWN
        self._set(client_order_id, state, None, None, f"{error.error_class}: {error.detail}"[:200])

    def filled(self, client_order_id: str) -> None:
        """The order filled completely (a resting order the book has just seen fill)."""
        self._set(client_order_id, OrderState.FILLED.value, None, None, "")

    def lost(self, client_order_id: str) -> None:
        self._set(client_order_id, LOST, None, None, "the exchange knows no such order")

    def _set(
        self, cid: str, state: str, exchange_id: str | None, filled: str | None, error: str
    ) -> None:
        with self.db.transaction() as c:
            c.execute(
                "UPDATE orders SET state=?, exchange_id=coalesce(?, exchange_id),"
                " filled=coalesce(?, filled), error=?, updated_at=?"
                " WHERE strategy=? AND mode=? AND client_order_id=?",
                (state, exchange_id, filled, error, self._clock(), self.strategy, self.mode, cid),
            )

    async def submit(self, port: TradingPort, key: OrderKey, order: OrderRequest) -> OrderAck:
        """Write and commit the intent, then send it, then record the answer.

        Raises what the port raises (after recording it): OrderRejected for good, or
        TradingUnavailable when the outcome is unknown until a lookup by client order id."""
        self.write(key, order)
        return await self.send(port, order)

    async def send(
        self, port: TradingPort, order: OrderRequest, *, in_process: bool = False
    ) -> OrderAck:
        """Send an intent already written (`write`, e.g. in the runner's book transaction) and
        record the answer; raises as `submit` does.

        `in_process`: the port keeps its ledger in this database and never suspends (the paper
        exchange): its writes and the answer share one commit. The intent itself must already
        be committed: it never rides in the same transaction as its send."""
        try:
            with self.db.transaction() if in_process else nullcontext():
                ack = await port.place(order)
                self.answered(ack)
        except (OrderRejected, TradingUnavailable) as e:
            self.failed(order.client_order_id, e)
            raise
        return ack

    def record_fill(self, fill: Fill) -> bool:
        """Record one execution; False when this trade id was recorded before (apply it once)."""
        with self.db.transaction() as c:
            cur = c.execute(
                "INSERT INTO fills (strategy, mode, trade_id, client_order_id, pair, side, price,"
                " amount, fee, fee_currency, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(strategy, mode, trade_id) DO NOTHING",
                (self.strategy, self.mode, fill.trade_id, fill.client_order_id, fill.pair,
                 fill.side.value, str(fill.price), str(fill.amount), str(fill.fee),
                 fill.fee_currency, fill.timestamp),
            )  # fmt: skip
            return cur.rowcount == 1

    # ---- reading -------------------------------------------------------------------------

    def intent(self, client_order_id: str) -> Intent | None:
        row = self.db.conn.execute(
            "SELECT client_order_id, group_id, purpose, step, attempt, pair, side, state,"
            " updated_at"
            " FROM orders WHERE strategy=? AND mode=? AND client_order_id=?",
            (self.strategy, self.mode, client_order_id),
        ).fetchone()
        return None if row is None else _intent(row)

    def unsettled(self) -> tuple[Intent, ...]:
        """Intents sent (or about to be) whose outcome was never answered."""
        rows = self.db.conn.execute(
            "SELECT client_order_id, group_id, purpose, step, attempt, pair, side, state,"
            " updated_at"
            " FROM orders WHERE strategy=? AND mode=? AND state IN (?, ?) ORDER BY created_at",
            (self.strategy, self.mode, *UNSETTLED),
        ).fetchall()
        return tuple(_intent(r) for r in rows)

    def has_fill(self, trade_id: str) -> bool:
        row = self.db.conn.execute(
            "SELECT 1 FROM fills WHERE strategy=? AND mode=? AND trade_id=?",
            (self.strategy, self.mode, trade_id),
        ).fetchone()
        return row is not None

    def last_fill_at(self, pair: str) -> float:
        row = self.db.conn.execute(
            "SELECT max(at) FROM fills WHERE strategy=? AND mode=? AND pair=?",
            (self.strategy, self.mode, pair),
        ).fetchone()
        return 0.0 if row[0] is None else float(row[0])

    def counts(self) -> dict[tuple[str, str], int]:
        """Orders by (side, result): result is the intent's state (open, filled, rejected, …)."""
        rows = self.db.conn.execute(
            "SELECT side, state, count(*) FROM orders WHERE strategy=? AND mode=?"
            " GROUP BY side, state",
            (self.strategy, self.mode),
        ).fetchall()
        return {(str(r[0]), str(r[1])): int(r[2]) for r in rows}


def _intent(r: tuple[object, ...]) -> Intent:
    key = OrderKey(int(str(r[1])), Purpose(str(r[2])), int(str(r[3])), int(str(r[4])))
    return Intent(str(r[0]), key, str(r[5]), Side(str(r[6])), str(r[7]), float(str(r[8])))


def request_for(
    cid: str, pair: str, side: str, kind: str, amount: Decimal, price: Decimal | None
) -> OrderRequest:
    """An `OrderRequest` from the engine's vocabulary (its enums share the port's values)."""
    return OrderRequest(pair, Side(side), OrderType(kind), amount, cid, price)


__all__ = [
    "ALNUM_IDS",
    "ID_LIMITS",
    "Intent",
    "IntentLog",
    "client_order_id",
    "id_separator",
    "request_for",
    "strategy_tag",
]
