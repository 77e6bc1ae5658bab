"""bots/db.py: a v1 state file (lifecycle only) migrates to v2 in place, rows kept; transactions
roll back whole and belong to the task that opened them; every trading table carries strategy
and a checked mode."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from backfuture_daemon.bots.db import _MIGRATIONS, SCHEMA_VERSION, Database
from backfuture_daemon.bots.model import BotState
from backfuture_daemon.bots.store import BotStore


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
    assert store.schema_version == SCHEMA_VERSION == 2
    assert store.load_bots()["B"].state is BotState.PAUSED
    tables = {r[0] for r in store.db.conn.execute("SELECT name FROM sqlite_master")}
    trading = {"books", "groups", "orders", "fills"}
    paper = {"paper_orders", "paper_fills", "paper_balances"}
    assert paper <= tables
    assert trading <= tables
    store.close()


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
