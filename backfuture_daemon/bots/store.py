"""Lifecycle rows of every bot (state, reason, since, mode) and a few daemon facts, on bots/db.py.

Written by bots/lifecycle.py on every transition and read once at start-up, so a restart finds
each bot where it was. Also keeps a few daemon facts (fingerprint salt, last applied revision)
in `meta`. Never stores a secret: only names, states, reasons, revisions and salted digests.
The schema and its versions live in db.py; `db` is the shared connection the bots' runtime uses.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from backfuture_daemon.bots.db import FILENAME, SCHEMA_VERSION, Database
from backfuture_daemon.bots.model import BotState, BotStatus

__all__ = ["FILENAME", "SCHEMA_VERSION", "BotStore"]

_MAX_TRANSITIONS = 10_000


class BotStore:
    """Lifecycle persistence over one `Database` (opened here from `path`, or shared via `on`)."""

    def __init__(self, path: Path, db: Database | None = None) -> None:
        self.db = db if db is not None else Database(path)
        self.path = self.db.path
        self._db = self.db.conn

    @classmethod
    def in_dir(cls, state_dir: Path) -> BotStore:
        return cls(state_dir / FILENAME)

    @classmethod
    def on(cls, db: Database) -> BotStore:
        return cls(db.path, db)

    @property
    def schema_version(self) -> int:
        return self.db.schema_version

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
        with self.db.transaction():
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
        with self.db.transaction():
            self._db.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                list(items),
            )

    def checkpoint(self) -> None:
        """Fold the WAL into the main file (at shutdown), so a copy of one file is complete."""
        self.db.checkpoint()

    def close(self) -> None:
        self.db.close()
