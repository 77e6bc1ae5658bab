"""SQLite bot store: WAL, versioned schema, lifecycle survives a reopen, no secrets stored."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from backfuture_daemon.bots.lifecycle import BotLifecycle
from backfuture_daemon.bots.model import BotState
from backfuture_daemon.bots.store import SCHEMA_VERSION, BotStore
from backfuture_daemon.errors import UsageError
from tests.helpers.desired import pause_bot as PauseBot
from tests.helpers.desired import start_bot as StartBot
from tests.helpers.desired import stop_bot as StopBot


def test_new_store_is_wal_and_versioned(tmp_path: Path) -> None:
    store = BotStore.in_dir(tmp_path / "state")
    assert store.schema_version == SCHEMA_VERSION
    mode = sqlite3.connect(store.path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    store.close()


def test_lifecycle_survives_reopen(tmp_path: Path) -> None:
    clock = iter([10.0, 20.0, 30.0, 40.0]).__next__
    store = BotStore.in_dir(tmp_path)
    life = BotLifecycle(store, clock)
    assert life.apply(StartBot("BTC Bot", "MEXC Main", "online")) is not None
    t = life.apply(PauseBot("BTC Bot", "MEXC Main", "ip_not_allowed"))
    assert t is not None
    assert t.previous is BotState.RUNNING
    assert t.changed_state
    assert life.apply(PauseBot("BTC Bot", "MEXC Main", "ip_not_allowed")) is None
    life.apply(StartBot("ETH Bot", "MEXC Main", "online", mode="live"))
    store.checkpoint()
    store.close()

    again = BotLifecycle(BotStore.in_dir(tmp_path), lambda: 99.0)
    btc, eth = again.bots["BTC Bot"], again.bots["ETH Bot"]
    assert (btc.state, btc.reason, btc.since) == (BotState.PAUSED, "ip_not_allowed", 20.0)
    assert (eth.state, eth.mode) == (BotState.RUNNING, "live")


def test_reason_change_keeps_since_and_stop_is_recorded(tmp_path: Path) -> None:
    clock = iter([1.0, 2.0, 3.0]).__next__
    store = BotStore.in_dir(tmp_path)
    life = BotLifecycle(store, clock)
    life.apply(PauseBot("B", "C", "waiting"))
    life.apply(PauseBot("B", "C", "connection failed"))
    assert life.bots["B"].since == 1.0
    life.apply(StopBot("B", "C", "strategy removed from git"))
    assert [t[1:3] for t in store.transitions("B")] == [
        (None, "paused"),
        ("paused", "paused"),
        ("paused", "stopped"),
    ]


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "backfuture.sqlite"
    sqlite3.connect(path).execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(UsageError, match="newer than this daemon"):
        BotStore(path)


def test_meta_roundtrip(tmp_path: Path) -> None:
    store = BotStore.in_dir(tmp_path)
    assert store.get_meta("salt") is None
    store.set_meta([("salt", "abc"), ("applied_revision", "r1")])
    store.set_meta([("salt", "def")])
    assert (store.get_meta("salt"), store.get_meta("applied_revision")) == ("def", "r1")


def test_previous_state_and_reason_follow_every_change() -> None:
    life = BotLifecycle(None, lambda: 5.0)
    life.apply(StartBot("B", "C", "online"))
    assert life.bots["B"].previous_state is None
    life.apply(PauseBot("B", "C", "waiting"))
    life.apply(PauseBot("B", "C", "failed: ip_not_allowed"))
    b = life.bots["B"]
    assert (b.previous_state, b.previous_reason) == (BotState.PAUSED, "waiting")
    assert life.apply(PauseBot("B", "C", "failed: ip_not_allowed")) is None  # unchanged
