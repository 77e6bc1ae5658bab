"""The daemon's one SQLite file: a WAL connection and its schema migrations (`PRAGMA user_version`).

Opened once by the daemon (through bots/store.py's `BotStore`) and shared by everything in bots/
that persists: lifecycle rows (store.py), intents and fills (intents.py), books and groups
(books.py), the paper exchange's ledger (paper.py). v1 is the lifecycle schema; v2 adds the
trading tables, each row keyed by strategy and carrying `mode` (paper | live); v3 adds
`groups.close_reason` (why a group left the book when the strategy did not close it, e.g.
`closed_outside`: bots/outside.py). Newer files are refused.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from backfuture_daemon.errors import UsageError

SCHEMA_VERSION = 3
FILENAME = "backfuture.sqlite"

_MODE = "mode TEXT NOT NULL CHECK (mode IN ('paper', 'live'))"

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE bots (
        strategy   TEXT PRIMARY KEY,
        connection TEXT NOT NULL,
        state      TEXT NOT NULL CHECK (state IN ('running', 'paused', 'stopped')),
        reason     TEXT NOT NULL,
        since      REAL NOT NULL,
        mode       TEXT NOT NULL,
        market     TEXT NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE bot_transitions (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        at         REAL NOT NULL,
        strategy   TEXT NOT NULL,
        connection TEXT NOT NULL,
        from_state TEXT,
        to_state   TEXT NOT NULL,
        reason     TEXT NOT NULL
    );
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # Amounts and prices are Decimal strings: never a float in the money path.
    2: f"""
    CREATE TABLE books (
        strategy      TEXT NOT NULL,
        {_MODE},
        next_group_id INTEGER NOT NULL,
        realized_pnl  TEXT NOT NULL,
        closed_groups INTEGER NOT NULL,
        dust          TEXT NOT NULL,
        epoch         TEXT NOT NULL,
        updated_at    REAL NOT NULL,
        PRIMARY KEY (strategy, mode)
    );
    CREATE TABLE groups (
        strategy   TEXT NOT NULL,
        {_MODE},
        group_id   TEXT NOT NULL,
        pair       TEXT NOT NULL,
        opened_at  REAL NOT NULL,
        closed_at  REAL,
        body       TEXT NOT NULL,
        PRIMARY KEY (strategy, mode, group_id)
    );
    CREATE TABLE orders (
        strategy        TEXT NOT NULL,
        {_MODE},
        client_order_id TEXT NOT NULL,
        group_id        TEXT NOT NULL,
        purpose         TEXT NOT NULL,
        step            INTEGER NOT NULL,
        attempt         INTEGER NOT NULL,
        pair            TEXT NOT NULL,
        side            TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
        type            TEXT NOT NULL CHECK (type IN ('limit', 'market')),
        amount          TEXT NOT NULL,
        price           TEXT,
        state           TEXT NOT NULL,
        exchange_id     TEXT,
        filled          TEXT NOT NULL DEFAULT '0',
        error           TEXT NOT NULL DEFAULT '',
        created_at      REAL NOT NULL,
        updated_at      REAL NOT NULL,
        PRIMARY KEY (strategy, mode, client_order_id)
    );
    CREATE INDEX orders_live ON orders (strategy, mode, state);
    CREATE TABLE fills (
        strategy        TEXT NOT NULL,
        {_MODE},
        trade_id        TEXT NOT NULL,
        client_order_id TEXT,
        pair            TEXT NOT NULL,
        side            TEXT NOT NULL,
        price           TEXT NOT NULL,
        amount          TEXT NOT NULL,
        fee             TEXT NOT NULL,
        fee_currency    TEXT NOT NULL,
        at              REAL NOT NULL,
        PRIMARY KEY (strategy, mode, trade_id)
    );
    CREATE INDEX fills_by_pair ON fills (strategy, mode, pair, at);
    CREATE TABLE paper_orders (
        strategy        TEXT NOT NULL,
        {_MODE},
        client_order_id TEXT NOT NULL,
        order_id        TEXT NOT NULL,
        pair            TEXT NOT NULL,
        side            TEXT NOT NULL,
        type            TEXT NOT NULL,
        amount          TEXT NOT NULL,
        price           TEXT,
        state           TEXT NOT NULL,
        filled          TEXT NOT NULL,
        average_price   TEXT,
        locked          TEXT NOT NULL,
        created_at      REAL NOT NULL,
        updated_at      REAL NOT NULL,
        PRIMARY KEY (strategy, mode, client_order_id)
    );
    CREATE INDEX paper_orders_open ON paper_orders (strategy, mode, pair, state);
    CREATE TABLE paper_fills (
        strategy        TEXT NOT NULL,
        {_MODE},
        seq             INTEGER NOT NULL,
        trade_id        TEXT NOT NULL,
        order_id        TEXT NOT NULL,
        client_order_id TEXT NOT NULL,
        pair            TEXT NOT NULL,
        side            TEXT NOT NULL,
        price           TEXT NOT NULL,
        amount          TEXT NOT NULL,
        fee             TEXT NOT NULL,
        fee_currency    TEXT NOT NULL,
        liquidity       TEXT NOT NULL CHECK (liquidity IN ('maker', 'taker')),
        at              REAL NOT NULL,
        PRIMARY KEY (strategy, mode, seq)
    );
    CREATE INDEX paper_fills_by_pair ON paper_fills (strategy, mode, pair, at);
    CREATE TABLE paper_balances (
        strategy TEXT NOT NULL,
        {_MODE},
        currency TEXT NOT NULL,
        free     TEXT NOT NULL,
        locked   TEXT NOT NULL,
        PRIMARY KEY (strategy, mode, currency)
    );
    """,
    # NULL: open, or closed by the strategy (take profit, stop loss); `closed_outside`: the
    # exchange no longer held its position (liquidated or closed by hand, bots/outside.py).
    3: """
    ALTER TABLE groups ADD COLUMN close_reason TEXT;
    """,
}


class Database:
    """One sqlite3 connection in autocommit mode, used from the event loop thread only.

    Writes are a few rows each; `transaction()` groups them (BEGIN IMMEDIATE … COMMIT), and a
    committed write is durable against a process crash (WAL, synchronous=NORMAL). A transaction
    belongs to the asyncio task that opened it: another task's write while it is open (someone
    held it across an await that suspended) raises instead of joining it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(path), isolation_level=None, timeout=5.0)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self._depth = 0
        self._owner: object = None
        try:
            self._migrate()
        except BaseException:
            self.conn.close()
            raise

    @classmethod
    def in_dir(cls, state_dir: Path) -> Database:
        return cls(state_dir / FILENAME)

    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        current = self.schema_version
        if current > SCHEMA_VERSION:
            raise UsageError(
                f"{self.path}: state schema version {current} is newer than this daemon "
                f"({SCHEMA_VERSION}); upgrade backfuture or use another --state-dir"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            with self.transaction():
                for statement in _MIGRATIONS[version].split(";"):
                    if statement.strip():
                        self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {version}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Commit on success, roll back on any exception. Nested use (same task) joins the
        outer one."""
        if self._depth:
            if _task() is not self._owner:
                raise RuntimeError(
                    f"{self.path}: a write from another task while a transaction is open "
                    "(held across an await); not joined"
                )
            self._depth += 1
            try:
                yield self.conn
            finally:
                self._depth -= 1
            return
        self.conn.execute("BEGIN IMMEDIATE")
        self._depth, self._owner = 1, _task()
        try:
            yield self.conn
        except BaseException:
            self._depth, self._owner = 0, None
            self.conn.execute("ROLLBACK")
            raise
        self._depth, self._owner = 0, None
        self.conn.execute("COMMIT")

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def checkpoint(self) -> None:
        """Fold the WAL into the main file (at shutdown), so a copy of one file is complete."""
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        self.conn.close()


def _task() -> object:
    """The running asyncio task, or None outside an event loop (start-up, tools)."""
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None
