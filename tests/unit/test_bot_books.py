"""BookStore: a GroupBook (groups, resting orders, recovery state, PnL, dust) survives SQLite
exactly; groups that leave the book keep their row, closed."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D
from pathlib import Path

from backfuture_daemon.bots.books import BookStore
from backfuture_daemon.bots.db import Database
from backfuture_daemon.strategy.groups import GroupBook, RecoveryReason
from backfuture_daemon.strategy.orders import OrderKey, OrderSide, OrderType, Place, Purpose
from backfuture_daemon.strategy.params import GroupSizing

SIZING = GroupSizing(
    base_order_quote=D(10),
    add_order_quote=D(10),
    max_adds=5,
    max_active_adds=2,
    step_pct=D("1.5"),
    step_scale=D("1.2"),
    volume_scale=D("1.5"),
    take_profit_pct=D("1.2"),
    stop_loss_pct=None,
)


def test_book_roundtrip_and_closed_groups(tmp_path: Path) -> None:
    book, g = GroupBook().open_group("BTC/USDT", SIZING, 100.0)
    base = OrderKey(g.id, Purpose.BASE, 0, 1)
    book = book.apply(Place(base, g.pair, OrderSide.BUY, OrderType.LIMIT, D("0.1"), D(100)))
    book = book.fill(base, D("0.1"), D(100), D("0.01"))
    add = OrderKey(g.id, Purpose.ADD, 1, 2)
    book = book.apply(Place(add, g.pair, OrderSide.BUY, OrderType.LIMIT, D("0.1"), D("98.5")))
    book = book.with_group(
        replace(book.group(g.id), recovery_reason=RecoveryReason.DRAWDOWN, recovery_since=5.0)
    )
    book, _ = book.open_group("ETH/USDT", SIZING, 101.0)
    book = replace(book, dust=(("ETH/USDT", D("0.0001")),), realized_pnl=D("1.5"))

    db = Database.in_dir(tmp_path)
    BookStore(db, "S", "paper").save(book, 1.0)
    db.close()
    db = Database.in_dir(tmp_path)
    store = BookStore(db, "S", "paper")
    assert store.load() == book
    assert BookStore(db, "S", "live").load() == GroupBook()

    smaller = replace(book, groups=book.groups[:1])
    store.save(smaller, 2.0)
    assert store.load() == smaller  # the closed row (with its edited body) is not read
    closed = db.conn.execute("SELECT group_id, closed_at FROM groups ORDER BY group_id").fetchall()
    assert closed == [("1", None), ("2", 2.0)]


def test_save_against_the_previous_book_writes_only_what_changed(tmp_path: Path) -> None:
    db = Database.in_dir(tmp_path)
    store = BookStore(db, "S", "paper")
    book, _ = GroupBook().open_group("BTC/USDT", SIZING, 1.0)
    book, g2 = book.open_group("ETH/USDT", SIZING, 2.0)
    store.save(book, 1.0)
    db.conn.execute("UPDATE groups SET body = 'untouched' WHERE group_id = '1'")
    key = OrderKey(g2.id, Purpose.BASE, 0, 1)
    changed = book.apply(Place(key, g2.pair, OrderSide.BUY, OrderType.LIMIT, D(1), D(10)))
    store.save(changed, 2.0, previous=book)
    bodies = dict(db.conn.execute("SELECT group_id, body FROM groups").fetchall())
    assert bodies["1"] == "untouched"  # unchanged: not rewritten
    smaller = replace(changed, groups=changed.groups[1:])
    store.save(smaller, 3.0, previous=changed)
    closed = db.conn.execute("SELECT group_id, closed_at FROM groups ORDER BY group_id").fetchall()
    assert closed == [("1", 3.0), ("2", None)]
    assert store.load() == smaller  # the closed row (with its edited body) is not read
