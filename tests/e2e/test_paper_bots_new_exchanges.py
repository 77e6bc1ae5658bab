"""Paper bots run unchanged on Binance, OKX and Bybit (issue 11): one daemon, one sandbox, a
connection and a paper strategy per exchange; each connection tests online and each bot opens a
group from that exchange's public market data."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.processes import ConfigRepo, DaemonProc, SandboxProc, wait_until

pytestmark = pytest.mark.e2e

KEYS: list[dict[str, Any]] = [
    {"exchange": "binance", "api_key": "BNpaperKey000000000000001",
     "api_secret": "paper-binance-secret-0001",
     "permissions": ["enableReading", "enableSpotAndMarginTrading"]},
    {"exchange": "okx", "api_key": "okx-paper-key-0001", "api_secret": "paper-okx-secret-0001",
     "passphrase": "paper-okx-pass-1", "permissions": ["read_only", "trade"]},
    {"exchange": "bybit", "api_key": "BYBITpaperKey00001",
     "api_secret": "paper-bybit-secret-0001", "permissions": ["Spot.SpotTrade"]},
]  # fmt: skip
NAMES = {"binance": "Binance Paper", "okx": "OKX Paper", "bybit": "Bybit Paper"}


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxProc]:
    keys = [k | {"ip_whitelist": ["127.0.0.1"], "balances": {"USDT": 1000}} for k in KEYS]
    sb = SandboxProc(tmp_path / "sandbox", keys)
    yield sb
    sb.stop()


def _ports(sandbox: SandboxProc, workdir: Path) -> dict[str, str]:
    log = (workdir / "sandbox" / "sandbox.log").read_text(encoding="utf-8")
    found = dict(re.findall(r"(Binance|OKX|Bybit)[^\n]*http://127\.0\.0\.1:(\d+)", log))
    return {"binance": found["Binance"], "okx": found["OKX"], "bybit": found["Bybit"]}


def test_a_paper_bot_trades_on_each_new_exchange(sandbox: SandboxProc, tmp_path: Path) -> None:
    ports = wait_until(lambda: _ports(sandbox, tmp_path), 10, "sandbox URLs printed")
    connections = []
    for key in KEYS:
        exchange = key["exchange"]
        conn = {
            "name": NAMES[exchange],
            "exchange": exchange,
            "api_key": key["api_key"],
            "api_secret": key["api_secret"],
            "endpoints": {"spot": f"http://127.0.0.1:{ports[exchange]}"},
        }
        if "passphrase" in key:
            conn["passphrase"] = key["passphrase"]
        connections.append(conn)
    doc = {
        "version": 1,
        "policy": {"egress_ips": ["127.0.0.1"]},
        "connections": connections,
        "strategies": [
            {
                "name": f"{c['name']} Bot",
                "connection": c["name"],
                "pairs": ["BTC/USDT"],
                "margin_limit": 300,
            }
            for c in connections
        ],
    }
    repo = ConfigRepo(tmp_path / "repo", {"c.yaml": doc})
    daemon = DaemonProc(repo.path, tmp_path, repo.key_file)
    try:

        def groups() -> dict[str, int] | None:
            bots = {b["strategy"]: len(b.get("groups") or []) for b in daemon.status()["bots"]}
            return bots if all(n >= 1 for n in bots.values()) and len(bots) == 3 else None

        opened = wait_until(groups, 45, "a paper group on every exchange")
        assert set(opened) == {f"{n} Bot" for n in NAMES.values()}
        status = daemon.status()
        assert {c["name"]: c["status"] for c in status["connections"]} == {
            n: "online" for n in NAMES.values()
        }
        for bot in status["bots"]:
            assert bot["trading_mode"] == "paper"
            assert 0 < float(bot["committed_quote"]) <= float(bot["margin_limit"])
        text = str(status) + daemon.metrics() + daemon.output()
        for key in KEYS:
            assert key["api_secret"] not in text
            assert key["api_key"] not in text
    finally:
        daemon.stop()
