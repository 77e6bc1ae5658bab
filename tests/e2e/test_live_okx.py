"""End to end, live mode on OKX in `backfuture run` (real daemon and sandbox processes): a `mode:
live` strategy on an OKX connection (passphrase, SOPS-encrypted) passes its connection test,
opens a group, adds as the price falls and closes at take profit; the sandbox's order audit shows
exactly one exchange order per client order id, each of letters and digits only (OKX's clOrdId
rule), and the bot's /status agrees with it. Neither the key, its secret nor its passphrase
reaches the logs (DEBUG), /status or /metrics.
"""

from __future__ import annotations

import importlib.util
import re
import signal
import types
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.processes import DaemonProc, http, wait_until

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
OKX_ID = re.compile(r"^bf[A-Za-z0-9]{1,30}$")


def benchmark() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("crash_kill", ROOT / "benchmarks/crash_kill.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bot(daemon: DaemonProc, name: str) -> dict[str, Any] | None:
    entry = next((b for b in daemon.status()["bots"] if b["strategy"] == name), None)
    return entry if entry is not None and entry.get("gate") == "run" else None


def test_a_live_okx_bot_trades_one_order_per_client_id_and_shows_no_secret(
    tmp_path: Path,
) -> None:
    ck = benchmark()
    sandbox = ck.SandboxAll(tmp_path / "sandbox", "okx")
    try:
        market = f"{sandbox.url}/__sandbox/market"
        http(market, "POST", {"symbol": ck.PAIR, "price": 100.0})
        repo = ck.ConfigRepo(tmp_path / "repo", {"main.yaml": {
            "version": 1, "policy": {"egress_ips": ["127.0.0.1"]},
            "connections": [sandbox.connection()],
            "strategies": [ck.live_strategy()]}})  # fmt: skip
        env = {**ck.TICK_ENV, "BACKFUTURE_LOG_LEVEL": "DEBUG"}
        daemon = DaemonProc(repo.path, tmp_path, repo.key_file, extra_env=env)
        try:
            wait_until(
                lambda: daemon.connection(ck.CONN).get("status") == "online", 30, "OKX online"
            )
            wait_until(lambda: (bot(daemon, ck.BOT) or {}).get("groups"), 30, "a live group")
            http(market, "POST", {"symbol": ck.PAIR, "path": [[0, 100], [0.5, 98]]})  # add 1
            wait_until(
                lambda: (bot(daemon, ck.BOT) or {"groups": [{}]})["groups"][0].get("filled_adds"),
                30,
                "add 1 filled",
            )
            http(market, "POST", {"symbol": ck.PAIR, "path": [[0, 98], [0.5, 102]]})  # take profit
            wait_until(
                lambda: (bot(daemon, ck.BOT) or {}).get("closed_groups", 0) >= 1, 30, "closed"
            )
            entry = bot(daemon, ck.BOT)
            assert entry is not None
            assert Decimal(str(entry["realized_pnl"])) > 0
            assert entry["last_error"] == ""

            orders = sandbox.audit()
            ids = Counter(str(o["client_order_id"]) for o in orders)
            assert ids
            assert max(ids.values()) == 1  # never two exchange orders for one client order id
            assert all(OKX_ID.match(cid) for cid in ids), ids
            sides = Counter((o["side"], o["status"]) for o in orders)
            assert sides[("buy", "filled")] >= 2  # base + add 1
            assert sides[("sell", "filled")] >= 1  # the take profit
            status, metrics = repr(daemon.status()), daemon.metrics()
        finally:
            daemon.signal(signal.SIGTERM)
            assert daemon.wait(20) == 0
            daemon.stop()
        logs = daemon.output()
        assert "bot fill" in logs
        assert "okx" in logs.lower()
        for secret in (ck.OKX_KEY, ck.OKX_SECRET, ck.OKX_PASS):
            for surface in (logs, status, metrics):
                assert secret not in surface
    finally:
        sandbox.stop()
