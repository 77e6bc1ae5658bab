"""bots/db.py: a v1 state file (lifecycle only) migrates to the current schema in place, rows
kept; a v2 file (trading tables) gains `groups.close_reason` with its books and groups intact;
transactions roll back whole and belong to the task that opened them; every trading table
carries strategy and a checked mode."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from dataclasses import replace
from decimal import Decimal as D
from pathlib import Path

import pytest

from backfuture_daemon.bots.books import CLOSED_OUTSIDE, BookStore
from backfuture_daemon.bots.db import _MIGRATIONS, SCHEMA_VERSION, Database
from backfuture_daemon.bots.model import BotState
from backfuture_daemon.bots.store import BotStore
from backfuture_daemon.strategy.codec import book_to_data
from backfuture_daemon.strategy.groups import GroupBook
from tests.unit.test_bot_outside import GROUP, PAIR


def test_v1_file_migrates_to_v2_keeping_bots(tmp_path: Path) -> None:
    path = tmp_path / "backfuture.sqlite"
    raw = sqlite3.connect(path)
    raw.executescript(_MIGRATIONS[1])
    raw.execute(
        "INSERT INTO bots VALUES ('B', 'C', 'paused', 'waiting', 1.0, 'paper', 'spot', 1.0)"
    )
    raw.execute("PRAGMA user_version = 1")
    raw.commit()
    raw.close()

    store = BotStore(path)
    assert store.schema_version == SCHEMA_VERSION == 3
    assert store.load_bots()["B"].state is BotState.PAUSED
    tables = {r[0] for r in store.db.conn.execute("SELECT name FROM sqlite_master")}
    trading = {"books", "groups", "orders", "fills"}
    paper = {"paper_orders", "paper_fills", "paper_balances"}
    assert paper <= tables
    assert trading <= tables
    store.close()


def _body(group_id: int) -> str:
    return json.dumps(book_to_data(GroupBook(groups=(replace(GROUP, id=group_id),))))


def test_v2_file_migrates_to_v3_keeping_books_and_groups(tmp_path: Path) -> None:
    """A state file written before positions closed outside were counted: every group it holds
    was closed by the strategy (close_reason NULL), the book loads as it was, the count is 0,
    and the next group closed outside is marked and counted."""
    path = tmp_path / "backfuture.sqlite"
    raw = sqlite3.connect(path)
    for version in (1, 2):
        raw.executescript(_MIGRATIONS[version])
    raw.execute("INSERT INTO books VALUES ('S', 'live', 3, '5', 1, '[]', 'ab12cd34', 1.0)")
    raw.execute("INSERT INTO groups VALUES ('S', 'live', '1', ?, 1.0, 2.0, ?)", (PAIR, _body(1)))
    raw.execute("INSERT INTO groups VALUES ('S', 'live', '2', ?, 3.0, NULL, ?)", (PAIR, _body(2)))
    raw.execute("PRAGMA user_version = 2")
    raw.commit()
    raw.close()

    db = Database(path)
    assert db.schema_version == SCHEMA_VERSION == 3
    assert "close_reason" in {r[1] for r in db.conn.execute("PRAGMA table_info(groups)")}
    books = BookStore(db, "S", "live")
    book = books.load()
    assert (book.next_group_id, book.realized_pnl, book.closed_groups) == (3, D(5), 1)
    assert [g.id for g in book.groups] == [2]
    assert books.closed_outside() == (0, None)
    rows = db.conn.execute("SELECT group_id, closed_at, close_reason FROM groups ORDER BY 1")
    assert rows.fetchall() == [("1", 2.0, None), ("2", None, None)]

    closed = replace(book, groups=(), closed_groups=2)
    books.save(closed, 9.0, book, outside={2})
    assert books.closed_outside() == (1, 9.0)
    rows = db.conn.execute("SELECT group_id, closed_at, close_reason FROM groups ORDER BY 1")
    assert rows.fetchall() == [("1", 2.0, None), ("2", 9.0, CLOSED_OUTSIDE)]
    db.close()
    again = Database(path)  # the count is read back from the file
    assert BookStore(again, "S", "live").closed_outside() == (1, 9.0)
    assert BookStore(again, "S", "paper").closed_outside() == (0, None)
    again.close()


def test_transaction_rolls_back_everything_on_error(tmp_path: Path) -> None:
    db = Database.in_dir(tmp_path)

    def write_then_crash() -> None:
        with db.transaction() as conn:
            conn.execute("INSERT INTO meta VALUES ('a', '1')")
            with db.transaction():
                conn.execute("INSERT INTO meta VALUES ('b', '2')")
            raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError):
        write_then_crash()
    assert db.conn.execute("SELECT count(*) FROM meta").fetchone()[0] == 0
    db.close()


def test_mode_is_checked(tmp_path: Path) -> None:
    db = Database.in_dir(tmp_path)
    with pytest.raises(sqlite3.IntegrityError):
        db.conn.execute("INSERT INTO paper_balances VALUES ('S', 'demo', 'USDT', '1', '0')")
    db.close()


async def test_another_tasks_write_never_joins_an_open_transaction(tmp_path: Path) -> None:
    """A transaction held across an await that suspends must not swallow another bot's writes
    (they would commit or roll back with it): that write raises instead."""
    db = Database.in_dir(tmp_path)
    held, release = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        with db.transaction() as conn:
            conn.execute("INSERT INTO meta VALUES ('a', '1')")
            held.set()
            await release.wait()

    async def other() -> None:
        with db.transaction() as conn:
            conn.execute("INSERT INTO meta VALUES ('b', '2')")

    task = asyncio.create_task(holder())
    await held.wait()
    with pytest.raises(RuntimeError, match="another task"):
        await other()
    release.set()
    await task
    assert [r[0] for r in db.conn.execute("SELECT key FROM meta")] == ["a"]
    with db.transaction(), db.transaction() as conn:  # the same task nests and joins
        conn.execute("INSERT INTO meta VALUES ('c', '3')")
    assert db.conn.execute("SELECT count(*) FROM meta").fetchone()[0] == 2
    db.close()
