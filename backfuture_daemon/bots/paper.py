"""The paper exchange: a `TradingPort` that simulates fills on real public market data.

Built by the bot supervisor for a strategy in `mode: paper`; the runner cannot tell it from a live
adapter. Fills follow reference/bots.md §4 (freqtrade's dry-run, made persistent): market orders
walk the order book (VWAP, slippage capped), a marketable limit fills at once as taker at the book's
VWAP, never worse than its limit; a resting limit fills whole at its price as maker once the book
trades through it. No partial fills, no queue. Orders, fills and balances live in SQLite
(mode='paper'), so a restart settles what the price crossed while down. With `allow_short`
(futures) a sell may exceed the base held: the base balance goes negative (the short position),
the sale's proceeds are credited and the buy-back pays them out, so the quote balance realises
the PnL with every fee; opening a short needs the account's equity to cover its margin.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import ClassVar

from backfuture_daemon.bots.db import Database
from backfuture_daemon.bots.paper_sim import (
    DEFAULT_FEES,
    PaperFees,
    order_problem,
    split_pair,
    walk_book,
)
from backfuture_daemon.exchanges.port import (
    Balance,
    Fill,
    MarketDataPort,
    OrderAck,
    OrderRejected,
    OrderRequest,
    OrderState,
    OrderType,
    Side,
    TradingErrorClass,
    TradingUnavailable,
)
from backfuture_daemon.strategy.params import MarketRules

__all__ = ["PaperExchange", "PaperFees", "walk_book"]

ZERO = Decimal(0)
_MODE = "paper"
_SELECT_ORDERS = (
    "SELECT client_order_id, order_id, pair, side, type, amount, price, state, filled,"
    " average_price, locked, created_at FROM paper_orders WHERE strategy=? AND mode=?"
)


class PaperExchange:
    """One strategy's simulated account (spot; futures with `allow_short`). Balances start at
    `start_balance` in `quote`.

    Placing with a client order id already known returns that order (placing is idempotent, so a
    runner that retries after a crash never doubles an order). Every call first settles resting
    orders against the latest book, so the first call after a restart settles what was crossed.
    No call suspends (`in_process`): the runner may commit a call's writes with its own."""

    in_process: ClassVar[bool] = True

    def __init__(
        self,
        db: Database,
        strategy: str,
        market_data: MarketDataPort,
        *,
        quote: str,
        start_balance: Decimal,
        fees: PaperFees | Callable[[str], PaperFees] = DEFAULT_FEES,
        slippage_cap: Decimal = Decimal("0.05"),
        rules: Callable[[str], MarketRules | None] | None = None,
        clock: Callable[[], float],
        allow_short: bool = False,
        leverage: Decimal = Decimal(1),
    ) -> None:
        """`rules`: the pair's precision and minimums, checked as a live venue checks them;
        `allow_short` (futures): sells may open a short, margined at `leverage`."""
        self._db = db
        self._allow_short, self._leverage = allow_short, leverage
        self._rules = rules
        self._strategy = strategy
        self._md = market_data
        self._fees = fees
        self._cap = slippage_cap
        self._clock = clock
        self.quote_currency = quote
        with db.transaction() as c:
            known = c.execute(
                "SELECT 1 FROM paper_balances WHERE strategy=? AND mode=?", (strategy, _MODE)
            ).fetchone()
            if known is None:
                self._set_balance(quote, start_balance, ZERO)

    # ---- TradingPort ---------------------------------------------------------------------

    async def place(self, order: OrderRequest) -> OrderAck:
        self.settle(order.pair)
        existing = self._order(order.client_order_id)
        if existing is not None:
            return existing
        if order.amount <= 0:
            raise OrderRejected(TradingErrorClass.ORDER_REJECTED, "amount must be positive")
        base, quote = split_pair(order.pair)
        fees = self._fees_for(order.pair)
        book = self._md.order_book(order.pair)
        bid, ask = self._top(order.pair)
        rules = self._rules(order.pair) if self._rules is not None else None
        if rules is not None:
            why = order_problem(order, rules, ask if order.side is Side.BUY else bid)
            if why:
                raise OrderRejected(TradingErrorClass.ORDER_REJECTED, why)
        if order.type is OrderType.MARKET:
            if book is None:
                raise TradingUnavailable(
                    TradingErrorClass.EXCHANGE_UNAVAILABLE, "no order book yet"
                )
            levels = book.asks if order.side is Side.BUY else book.bids
            price = walk_book(levels, order.amount, self._cap, order.side)
            return self._fill_now(order, price, fees.taker, base, quote)
        if order.price is None or order.price <= 0:
            raise OrderRejected(TradingErrorClass.ORDER_REJECTED, "a limit order needs a price")
        if self._crossed(order.side, order.price, bid, ask):
            # As a venue matches it: against the book at the book's prices, bounded by the limit.
            price = order.price
            if book is not None:
                levels = book.asks if order.side is Side.BUY else book.bids
                if levels:
                    vwap = walk_book(levels, order.amount, self._cap, order.side)
                    price = min(vwap, price) if order.side is Side.BUY else max(vwap, price)
            return self._fill_now(order, price, fees.taker, base, quote)
        return self._rest(order, fees.maker, base, quote)

    async def cancel(self, pair: str, client_order_id: str) -> OrderAck:
        self.settle(pair)
        ack = self._order(client_order_id)
        if ack is None:
            raise OrderRejected(
                TradingErrorClass.ORDER_REJECTED, f"unknown order {client_order_id}"
            )
        if ack.state is not OrderState.OPEN:
            return ack
        base, quote = split_pair(pair)
        with self._db.transaction() as c:
            locked = self._locked_of(client_order_id)
            currency = quote if ack.side is Side.BUY else base
            free, held = self._balance(currency)
            self._set_balance(currency, free + locked, held - locked)
            c.execute(
                "UPDATE paper_orders SET state='canceled', locked='0', updated_at=?"
                " WHERE strategy=? AND mode=? AND client_order_id=?",
                (self._clock(), self._strategy, _MODE, client_order_id),
            )
        result = self._order(client_order_id)
        assert result is not None
        return result

    async def fetch_order_by_client_id(self, pair: str, client_order_id: str) -> OrderAck | None:
        self.settle(pair)
        return self._order(client_order_id)

    async def open_orders(self, pair: str) -> tuple[OrderAck, ...]:
        self.settle(pair)
        rows = self._db.conn.execute(
            _SELECT_ORDERS + " AND pair=? AND state='open' ORDER BY created_at, client_order_id",
            (self._strategy, _MODE, pair),
        ).fetchall()
        return tuple(_ack(r) for r in rows)

    async def fills_since(self, pair: str, since: float) -> tuple[Fill, ...]:
        self.settle(pair)
        rows = self._db.conn.execute(
            "SELECT trade_id, order_id, client_order_id, pair, side, price, amount, fee,"
            " fee_currency, at FROM paper_fills WHERE strategy=? AND mode=? AND pair=? AND at>=?"
            " ORDER BY seq",
            (self._strategy, _MODE, pair, since),
        ).fetchall()
        return tuple(
            Fill(r[0], r[1], r[2], r[3], Side(r[4]), Decimal(r[5]), Decimal(r[6]), Decimal(r[7]),
                 r[8], float(r[9]))
            for r in rows
        )  # fmt: skip

    async def balances(self) -> Mapping[str, Balance]:
        rows = self._db.conn.execute(
            "SELECT currency, free, locked FROM paper_balances WHERE strategy=? AND mode=?",
            (self._strategy, _MODE),
        ).fetchall()
        return {r[0]: Balance(r[0], Decimal(r[1]), Decimal(r[2])) for r in rows}

    # ---- the simulation ------------------------------------------------------------------

    def settle(self, pair: str) -> int:
        """Fill every resting order of `pair` the book now trades through; how many filled."""
        bid, ask = self._top(pair, required=False)
        if bid is None and ask is None:
            return 0
        rows = self._db.conn.execute(
            "SELECT client_order_id, side, price FROM paper_orders WHERE strategy=? AND mode=?"
            " AND pair=? AND state='open' ORDER BY created_at, client_order_id",
            (self._strategy, _MODE, pair),
        ).fetchall()
        crossed = [r[0] for r in rows if self._crossed(Side(r[1]), Decimal(r[2]), bid, ask)]
        if not crossed:
            return 0
        base, quote = split_pair(pair)
        maker = self._fees_for(pair).maker
        with self._db.transaction():
            for client_order_id in crossed:
                ack = self._order(client_order_id)
                assert ack is not None
                assert ack.price is not None
                locked = self._locked_of(client_order_id)
                cost = ack.amount * ack.price
                fee = cost * maker
                if ack.side is Side.BUY:
                    self._move(quote, ZERO, -locked, refund=locked - cost - fee)
                    self._move(base, ack.amount, ZERO)
                else:
                    self._move(base, ZERO, -ack.amount)
                    self._move(quote, cost - fee, ZERO)
                self._record_fill(ack, ack.price, fee, quote, "maker")
        return len(crossed)

    def _fill_now(
        self, order: OrderRequest, price: Decimal, rate: Decimal, base: str, quote: str
    ) -> OrderAck:
        cost = order.amount * price
        fee = cost * rate
        if order.side is Side.BUY:
            self._require(quote, cost + fee)
        else:
            self._require_sell(base, quote, order.amount, price, fee)
        with self._db.transaction():
            if order.side is Side.BUY:
                self._move(quote, -(cost + fee), ZERO)
                self._move(base, order.amount, ZERO)
            else:
                self._move(base, -order.amount, ZERO)
                self._move(quote, cost - fee, ZERO)
            self._insert_order(order, ZERO)
            ack = self._order(order.client_order_id)
            assert ack is not None
            self._record_fill(ack, price, fee, quote, "taker")
        filled = self._order(order.client_order_id)
        assert filled is not None
        return filled

    def _rest(self, order: OrderRequest, maker: Decimal, base: str, quote: str) -> OrderAck:
        assert order.price is not None
        if order.side is Side.BUY:
            currency, lock = quote, order.amount * order.price * (1 + maker)
            self._require(currency, lock)
        else:
            currency, lock = base, order.amount
            fee = order.amount * order.price * maker
            self._require_sell(base, quote, order.amount, order.price, fee)
        with self._db.transaction():
            self._move(currency, -lock, lock)
            self._insert_order(order, lock)
        ack = self._order(order.client_order_id)
        assert ack is not None
        return ack

    def _record_fill(
        self, ack: OrderAck, price: Decimal, fee: Decimal, quote: str, liquidity: str
    ) -> None:
        c = self._db.conn
        seq = int(
            c.execute(
                "SELECT coalesce(max(seq), 0) + 1 FROM paper_fills WHERE strategy=? AND mode=?",
                (self._strategy, _MODE),
            ).fetchone()[0]
        )
        now = self._clock()
        c.execute(
            "INSERT INTO paper_fills (strategy, mode, seq, trade_id, order_id, client_order_id,"
            " pair, side, price, amount, fee, fee_currency, liquidity, at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (self._strategy, _MODE, seq, f"pt{seq}", ack.order_id, ack.client_order_id, ack.pair,
             ack.side.value, str(price), str(ack.amount), str(fee), quote, liquidity, now),
        )  # fmt: skip
        c.execute(
            "UPDATE paper_orders SET state='filled', filled=amount, average_price=?, locked='0',"
            " updated_at=? WHERE strategy=? AND mode=? AND client_order_id=?",
            (str(price), now, self._strategy, _MODE, ack.client_order_id),
        )

    # ---- ledger helpers ------------------------------------------------------------------

    def _fees_for(self, pair: str) -> PaperFees:
        return self._fees(pair) if callable(self._fees) else self._fees

    def _top(self, pair: str, required: bool = True) -> tuple[Decimal | None, Decimal | None]:
        book = self._md.order_book(pair)
        q = self._md.quote(pair)
        bid = book.bids[0][0] if book and book.bids else (q.bid if q else None)
        ask = book.asks[0][0] if book and book.asks else (q.ask if q else None)
        if required and bid is None and ask is None:
            raise TradingUnavailable(TradingErrorClass.EXCHANGE_UNAVAILABLE, "no market data yet")
        return bid, ask

    @staticmethod
    def _crossed(side: Side, price: Decimal, bid: Decimal | None, ask: Decimal | None) -> bool:
        if side is Side.BUY:
            return ask is not None and ask <= price
        return bid is not None and bid >= price

    def _order(self, client_order_id: str) -> OrderAck | None:
        row = self._db.conn.execute(
            _SELECT_ORDERS + " AND client_order_id=?",
            (self._strategy, _MODE, client_order_id),
        ).fetchone()
        return None if row is None else _ack(row)

    def _locked_of(self, client_order_id: str) -> Decimal:
        row = self._db.conn.execute(
            "SELECT locked FROM paper_orders WHERE strategy=? AND mode=? AND client_order_id=?",
            (self._strategy, _MODE, client_order_id),
        ).fetchone()
        return Decimal(row[0])

    def _insert_order(self, order: OrderRequest, locked: Decimal) -> None:
        n = self._db.conn.execute(
            "SELECT count(*) + 1 FROM paper_orders WHERE strategy=? AND mode=?",
            (self._strategy, _MODE),
        ).fetchone()[0]
        now = self._clock()
        self._db.conn.execute(
            "INSERT INTO paper_orders (strategy, mode, client_order_id, order_id, pair, side, type,"
            " amount, price, state, filled, average_price, locked, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', '0', NULL, ?, ?, ?)",
            (self._strategy, _MODE, order.client_order_id, f"paper-{n}", order.pair,
             order.side.value, order.type.value, str(order.amount),
             None if order.price is None else str(order.price), str(locked), now, now),
        )  # fmt: skip

    def _balance(self, currency: str) -> tuple[Decimal, Decimal]:
        row = self._db.conn.execute(
            "SELECT free, locked FROM paper_balances WHERE strategy=? AND mode=? AND currency=?",
            (self._strategy, _MODE, currency),
        ).fetchone()
        return (ZERO, ZERO) if row is None else (Decimal(row[0]), Decimal(row[1]))

    def _set_balance(self, currency: str, free: Decimal, locked: Decimal) -> None:
        self._db.conn.execute(
            "INSERT INTO paper_balances (strategy, mode, currency, free, locked)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT(strategy, mode, currency)"
            " DO UPDATE SET free=excluded.free, locked=excluded.locked",
            (self._strategy, _MODE, currency, str(free), str(locked)),
        )

    def _move(self, currency: str, free: Decimal, locked: Decimal, refund: Decimal = ZERO) -> None:
        have, held = self._balance(currency)
        self._set_balance(currency, have + free + refund, held + locked)

    def _require_sell(
        self, base: str, quote: str, amount: Decimal, price: Decimal, fee: Decimal
    ) -> None:
        """A sell needs the base (spot), or, opening a short (`allow_short`), margin: the
        account's equity at `price` must cover every short's notional / leverage plus the fee."""
        free, locked = self._balance(base)
        if free >= amount or not self._allow_short:
            self._require(base, amount)
            return
        q_free, q_locked = self._balance(quote)
        equity = q_free + q_locked + (free + locked) * price
        margin = (amount - free) * price / self._leverage + fee
        if equity < margin:
            raise OrderRejected(
                TradingErrorClass.INSUFFICIENT_FUNDS,
                f"simulated {quote} equity {equity:.8f} < {margin:.8f} margin for the short",
            )

    def _require(self, currency: str, amount: Decimal) -> None:
        free, _ = self._balance(currency)
        if free < amount:
            raise OrderRejected(
                TradingErrorClass.INSUFFICIENT_FUNDS,
                f"simulated {currency} balance {free} < {amount} needed",
            )


def _ack(r: tuple[object, ...]) -> OrderAck:
    return OrderAck(
        client_order_id=str(r[0]),
        order_id=str(r[1]),
        pair=str(r[2]),
        side=Side(str(r[3])),
        state=OrderState(str(r[7])),
        amount=Decimal(str(r[5])),
        filled=Decimal(str(r[8])),
        price=None if r[6] is None else Decimal(str(r[6])),
        average_price=None if r[9] is None else Decimal(str(r[9])),
        timestamp=float(str(r[11])),
    )
