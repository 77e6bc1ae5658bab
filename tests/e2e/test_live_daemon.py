"""End to end, live mode in `backfuture run` (real daemon and sandbox processes): a key with
withdrawal permission fails its connection test, so the live bot never sends an order (the
sandbox's audit stays empty); once the permission is gone the re-test passes and the bot trades,
each exchange order with its own client order id. Nothing of the key's secret reaches the logs.
"""

from __future__ import annotations

import importlib.util
import shutil
import signal
import time
import types
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.processes import MEXC_TRADE, DaemonProc, http, wait_until

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def benchmark() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("crash_kill", ROOT / "benchmarks/crash_kill.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_withdraw_enabled_key_never_trades_live_until_the_permission_is_gone(
    tmp_path: Path,
) -> None:
    ck = benchmark()
    sandbox = ck.SandboxAll(tmp_path / "sandbox")
    try:
        withdraw = [*MEXC_TRADE, "SPOT_WITHDRAW_READ", "SPOT_WITHDRAW_WRITE"]
        http(f"{sandbox.url}/__sandbox/keys/{ck.API_KEY}", "POST", {"permissions": withdraw})
        http(f"{sandbox.url}/__sandbox/market", "POST", {"symbol": ck.PAIR, "price": 100.0})
        repo = ck.ConfigRepo(tmp_path / "repo", {"main.yaml": {
            "version": 1, "policy": {"egress_ips": ["127.0.0.1"]},
            "connections": [{"name": ck.CONN, "exchange": "mexc", "api_key": ck.API_KEY,
                             "api_secret": ck.API_SECRET, "endpoints": {"spot": sandbox.url}}],
            "strategies": [ck.live_strategy()]}})  # fmt: skip
        daemon = DaemonProc(repo.path, tmp_path, repo.key_file, extra_env=ck.TICK_ENV)
        try:
            wait_until(
                lambda: daemon.connection(ck.CONN).get("status") == "failed", 20, "test failed"
            )
            for _ in range(20):  # 2 s of 0.2 s ticks
                assert sandbox.audit() == []
                time.sleep(0.1)
            assert daemon.bots()[ck.BOT] == "paused"

            http(f"{sandbox.url}/__sandbox/keys/{ck.API_KEY}", "POST", {"permissions": MEXC_TRADE})
            orders = wait_until(lambda: sandbox.audit(), 30, "the live bot's first orders")
            ids = Counter(o["client_order_id"] for o in orders)
            assert max(ids.values()) == 1
            assert all(str(cid).startswith("bf") for cid in ids)
        finally:
            daemon.signal(signal.SIGTERM)
            daemon.wait(20)
            daemon.stop()
        assert ck.API_SECRET not in daemon.output()
    finally:
        sandbox.stop()


FIELDS = ("group_id", "base_price", "average_price", "amount", "filled_adds", "committed_quote",
          "take_profit_price")  # fmt: skip


def live_book(daemon: DaemonProc, bot: str) -> dict[str, Any] | None:
    entry = next((b for b in daemon.status()["bots"] if b["strategy"] == bot), None)
    if entry is None or entry.get("gate") != "run" or not entry.get("groups"):
        return None
    return {
        "committed_quote": entry["committed_quote"],
        "groups": [{k: g[k] for k in FIELDS} for g in entry["groups"]],
    }


def test_a_deleted_state_directory_is_rebuilt_from_the_exchange(tmp_path: Path) -> None:
    ck = benchmark()
    sandbox = ck.SandboxAll(tmp_path / "sandbox")
    state = tmp_path / "state"
    try:
        http(f"{sandbox.url}/__sandbox/market", "POST", {"symbol": ck.PAIR, "price": 100.0})
        repo = ck.ConfigRepo(tmp_path / "repo", {"main.yaml": {
            "version": 1, "policy": {"egress_ips": ["127.0.0.1"]},
            "connections": [{"name": ck.CONN, "exchange": "mexc", "api_key": ck.API_KEY,
                             "api_secret": ck.API_SECRET, "endpoints": {"spot": sandbox.url}}],
            "strategies": [ck.live_strategy()]}})  # fmt: skip
        daemon = DaemonProc(repo.path, tmp_path, repo.key_file, state_dir=state,
                            extra_env=ck.TICK_ENV)  # fmt: skip
        try:
            wait_until(lambda: live_book(daemon, ck.BOT), 30, "a live group")
            path = [[0, 100], [0.5, 98]]  # add 1 (~98.5) fills, the take profit is re-placed
            http(f"{sandbox.url}/__sandbox/market", "POST", {"symbol": ck.PAIR, "path": path})

            def after_add() -> dict[str, Any] | None:
                book = live_book(daemon, ck.BOT)
                return book if book and book["groups"][0]["filled_adds"] == 1 else None

            wait_until(after_add, 30, "add 1 filled")
            time.sleep(1.5)  # quiet: the new take profit rests
            before = live_book(daemon, ck.BOT)
            orders_before = sandbox.audit()
        finally:
            daemon.p.send_signal(signal.SIGKILL)
            daemon.wait(10)
            daemon.stop()
        shutil.rmtree(state)  # the volume is lost

        again = DaemonProc(repo.path, tmp_path, repo.key_file, state_dir=state,
                           extra_env=ck.TICK_ENV)  # fmt: skip
        try:
            wait_until(lambda: live_book(again, ck.BOT) == before, 30, "the same book rebuilt")
            time.sleep(1.0)
            assert live_book(again, ck.BOT) == before
            assert sandbox.audit() == orders_before  # nothing new sent, nothing cancelled
            assert "live book rebuilt from the exchange" in again.output()
        finally:
            again.signal(signal.SIGTERM)
            again.wait(20)
            again.stop()
    finally:
        sandbox.stop()
