"""Client order ids (deterministic, within MEXC's 32 and KuCoin's 40 characters, alnum/-/_ only)
and the intent log: the intent is committed before the order is sent (a port that dies on send
leaves the row behind, visible to another connection), answers are recorded, fills once."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping
from decimal import Decimal as D
from pathlib import Path

import pytest

from backfuture_daemon.bots.books import BookStore
from backfuture_daemon.bots.db import Database
from backfuture_daemon.bots.intents import ID_LIMITS, IntentLog, client_order_id, id_separator
from backfuture_daemon.exchanges.port import (
    Balance,
    Fill,
    OrderAck,
    OrderRejected,
    OrderRequest,
    OrderState,
    OrderType,
    Side,
    TradingErrorClass,
    TradingUnavailable,
)
from backfuture_daemon.strategy.orders import OrderKey, Purpose


class Crash(BaseException):
    """The process dying between the send and its answer."""


class ScriptedPort:
    """A TradingPort that checks the intent row from another connection, then does `then`."""

    def __init__(self, path: Path, then: BaseException | None) -> None:
        self.path, self.then = path, then
        self.seen: list[tuple[str, str]] = []

    async def place(self, order: OrderRequest) -> OrderAck:
        other = sqlite3.connect(self.path)
        self.seen += other.execute(
            "SELECT client_order_id, state FROM orders WHERE client_order_id = ?",
            (order.client_order_id,),
        ).fetchall()
        other.close()
        if self.then is not None:
            raise self.then
        return OrderAck(
            order.client_order_id, "X1", order.pair, order.side, OrderState.OPEN, order.amount, D(0)
        )

    async def cancel(self, pair: str, client_order_id: str) -> OrderAck:
        raise NotImplementedError

    async def fetch_order_by_client_id(self, pair: str, client_order_id: str) -> OrderAck | None:
        return None

    async def open_orders(self, pair: str) -> tuple[OrderAck, ...]:
        return ()

    async def fills_since(self, pair: str, since: float) -> tuple[Fill, ...]:
        return ()

    async def balances(self) -> Mapping[str, Balance]:
        return {}


KEY = OrderKey(12, Purpose.ADD, 3, 7)


def request(cid: str) -> OrderRequest:
    return OrderRequest("BTC/USDT", Side.BUY, OrderType.LIMIT, D("0.001"), cid, D(95))


def test_ids_are_deterministic_short_and_plain() -> None:
    a = client_order_id("BTC ETH New Groups", KEY)
    assert a == client_order_id("BTC ETH New Groups", KEY)
    assert a != client_order_id("BTC ETH New Groups", OrderKey(12, Purpose.ADD, 3, 8))
    assert a != client_order_id("Other bot", KEY)
    assert a.endswith("-g12a3n7")
    huge = OrderKey(999_999, Purpose.TAKE_PROFIT, 25, 9_999_999)
    for name in ("Ünïcode / strategy: 💥", "x" * 500, ""):
        cid = client_order_id(name, huge, limit=ID_LIMITS["mexc"])
        assert len(cid) <= 32
        assert re.fullmatch(r"[A-Za-z0-9_-]+", cid)
    assert ID_LIMITS == {"mexc": 32, "kucoin": 40, "binance": 36, "okx": 32, "bybit": 36}
    # OKX clOrdId takes letters and digits only: no separator, and the id still parses
    for name in ("Ünïcode / strategy: 💥", "x" * 500, ""):
        okx = client_order_id(name, huge, limit=ID_LIMITS["okx"], sep=id_separator("okx"))
        assert len(okx) <= 32
        assert re.fullmatch(r"[A-Za-z0-9]+", okx)
    assert id_separator("mexc") == "-"
    with pytest.raises(ValueError, match="does not fit"):
        client_order_id("s", huge, limit=20)


async def test_intent_is_committed_before_the_send(tmp_path: Path) -> None:
    db = Database.in_dir(tmp_path)
    log = IntentLog(db, "S", "paper", lambda: 1.0)
    cid = log.client_id(KEY)
    port = ScriptedPort(db.path, Crash())
    with pytest.raises(Crash):
        await log.submit(port, KEY, request(cid))
    assert port.seen == [(cid, "pending")]
    db.close()
    # After the "crash", a new process finds the intent and knows it is unanswered.
    again = IntentLog(Database.in_dir(tmp_path), "S", "paper", lambda: 2.0)
    (intent,) = again.unsettled()
    assert (intent.client_order_id, intent.key, intent.state) == (cid, KEY, "pending")


async def test_answers_and_failures_are_recorded(tmp_path: Path) -> None:
    db = Database.in_dir(tmp_path)
    log = IntentLog(db, "S", "paper", lambda: 1.0)
    ok = await log.submit(ScriptedPort(db.path, None), KEY, request("c1"))
    assert ok.state is OrderState.OPEN
    key2, key3 = OrderKey(1, Purpose.BASE, 0, 1), OrderKey(1, Purpose.BASE, 0, 2)
    with pytest.raises(OrderRejected):
        await log.submit(
            ScriptedPort(db.path, OrderRejected(TradingErrorClass.INSUFFICIENT_FUNDS, "x")),
            key2,
            request("c2"),
        )
    with pytest.raises(TradingUnavailable):
        await log.submit(
            ScriptedPort(db.path, TradingUnavailable(TradingErrorClass.RATE_LIMITED, "y")),
            key3,
            request("c3"),
        )
    states = {i: log.intent(i).state for i in ("c1", "c2", "c3")}  # type: ignore[union-attr]
    assert states == {"c1": "open", "c2": "rejected", "c3": "unknown"}
    assert [i.client_order_id for i in log.unsettled()] == ["c3"]
    assert log.counts() == {("buy", "open"): 1, ("buy", "rejected"): 1, ("buy", "unknown"): 1}


def test_a_fill_is_recorded_once(tmp_path: Path) -> None:
    log = IntentLog(Database.in_dir(tmp_path), "S", "paper", lambda: 1.0)
    fill = Fill("t1", "X1", "c1", "BTC/USDT", Side.BUY, D(95), D(1), D("0.1"), "USDT", 5.0)
    assert log.record_fill(fill) is True
    assert log.record_fill(fill) is False
    assert log.last_fill_at("BTC/USDT") == 5.0
    assert IntentLog(log.db, "S", "live", lambda: 1.0).record_fill(fill) is True  # own ledger


def test_a_book_started_afresh_never_reuses_an_id(tmp_path: Path) -> None:
    def first_id(path: Path, mode: str) -> str:
        db = Database.in_dir(path)
        books = BookStore(db, "S", mode)
        cid = IntentLog(db, "S", mode, lambda: 1.0, epoch=books.epoch()).client_id(KEY)
        db.close()
        return cid

    a = first_id(tmp_path / "one", "paper")
    assert first_id(tmp_path / "one", "paper") == a  # a restart: the same book, the same ids
    assert first_id(tmp_path / "one", "live") != a  # another mode is another book
    assert first_id(tmp_path / "wiped", "paper") != a  # a wiped state directory
    assert a.endswith("-g12a3n7")
    assert len(a) <= ID_LIMITS["mexc"]
