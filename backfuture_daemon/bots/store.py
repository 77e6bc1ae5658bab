"""SQLite persistence of bot lifecycle state (WAL, one file under the state directory).

Written by bots/lifecycle.py on every transition and read once at start-up, so a restart finds
each bot where it was. Also keeps a few daemon facts (fingerprint salt, last applied revision)
in `meta`. Never stores a secret: only names, states, reasons, revisions and salted digests.
The schema is versioned with `PRAGMA user_version`; a newer file than this code refuses to open.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

from backfuture_daemon.bots.model import BotState, BotStatus
from backfuture_daemon.errors import UsageError

SCHEMA_VERSION = 1
FILENAME = "backfuture.sqlite"
_MAX_TRANSITIONS = 10_000

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
}


class BotStore:
    """One connection, used from the event loop thread only (writes are a few rows, fast)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, timeout=5.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    @classmethod
    def in_dir(cls, state_dir: Path) -> BotStore:
        return cls(state_dir / FILENAME)

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        current = self.schema_version
        if current > SCHEMA_VERSION:
            raise UsageError(
                f"{self.path}: state schema version {current} is newer than this daemon "
                f"({SCHEMA_VERSION}); upgrade backfuture or use another --state-dir"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                for statement in _MIGRATIONS[version].split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {version}")

    def load_bots(self) -> dict[str, BotStatus]:
        rows = self._db.execute(
            "SELECT strategy, connection, state, reason, since, mode, market FROM bots"
        ).fetchall()
        return {
            r[0]: BotStatus(
                strategy=r[0],
                connection=r[1],
                state=BotState(r[2]),
                reason=r[3],
                since=float(r[4]),
                mode=r[5],
                market=r[6],
            )
            for r in rows
        }

    def save(self, bot: BotStatus, previous: BotState | None, at: float) -> None:
        """Upsert the bot and record the transition, in one transaction."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT INTO bots (strategy, connection, state, reason, since, mode, market,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(strategy) DO UPDATE SET connection=excluded.connection,"
                " state=excluded.state, reason=excluded.reason, since=excluded.since,"
                " mode=excluded.mode, market=excluded.market, updated_at=excluded.updated_at",
                (
                    bot.strategy,
                    bot.connection,
                    bot.state.value,
                    bot.reason,
                    bot.since,
                    bot.mode,
                    bot.market,
                    at,
                ),
            )
            cur = self._db.execute(
                "INSERT INTO bot_transitions (at, strategy, connection, from_state, to_state,"
                " reason) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    at,
                    bot.strategy,
                    bot.connection,
                    previous.value if previous else None,
                    bot.state.value,
                    bot.reason,
                ),
            )
            if cur.lastrowid and cur.lastrowid % 1000 == 0:
                self._db.execute(
                    "DELETE FROM bot_transitions WHERE id <= ?", (cur.lastrowid - _MAX_TRANSITIONS,)
                )

    def transitions(self, strategy: str | None = None) -> list[tuple[str, str | None, str, str]]:
        """(strategy, from_state, to_state, reason), oldest first: for tests and audits."""
        query = "SELECT strategy, from_state, to_state, reason FROM bot_transitions"
        args: tuple[str, ...] = ()
        if strategy is not None:
            query += " WHERE strategy = ?"
            args = (strategy,)
        rows = self._db.execute(query + " ORDER BY id", args).fetchall()
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, items: Iterable[tuple[str, str]]) -> None:
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                list(items),
            )

    def checkpoint(self) -> None:
        """Fold the WAL into the main file (at shutdown), so a copy of one file is complete."""
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        self._db.close()
