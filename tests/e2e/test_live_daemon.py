"""End to end, live mode in `backfuture run` (real daemon and sandbox processes): a key with
withdrawal permission fails its connection test, so the live bot never sends an order (the
sandbox's audit stays empty); once the permission is gone the re-test passes and the bot trades,
each exchange order with its own client order id. Nothing of the key's secret reaches the logs.
"""

from __future__ import annotations

import importlib.util
import signal
import time
import types
from collections import Counter
from pathlib import Path

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
