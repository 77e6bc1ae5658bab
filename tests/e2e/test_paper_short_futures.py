"""End to end, a paper short on futures (issue 10) in `backfuture run` (real daemon and sandbox
processes): a `mode: paper, market: futures, side: short` strategy on a KuCoin connection opens
short with a sell, rests its adds ABOVE the entry, sells into them as the price rises, enters
Recovery Mode, and buys back at take profit below the average as the price falls, with positive
realised PnL; /status shows side short for the bot and its group, the committed quote never passes
the margin limit, and no order reaches the exchange (paper).
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.configrepo import CANARY_KEY, CANARY_PASSPHRASE, CANARY_SECRET
from tests.helpers.processes import ConfigRepo, DaemonProc, SandboxProc, http, wait_until

pytestmark = pytest.mark.e2e
CONN, BOT, PAIR = "KuCoin Futures Paper", "BTC Futures Short", "BTC/USDT"
KEY, SECRET = "kcs-" + CANARY_KEY, "kcs-" + CANARY_SECRET
TICK_ENV = {"BACKFUTURE_BOTS_TICK_SECONDS": "0.2"}
STRATEGY: dict[str, Any] = {
    "name": BOT,
    "connection": CONN,
    "market": "futures",
    "side": "short",
    "leverage": 3,
    "mode": "paper",
    "pairs": [PAIR],
    "margin_limit": 1000,
    "max_active_groups": 1,
    "base_order_quote": 150,
    "take_profit_pct": 1.2,
    "adding": {
        "max_adds": 3,
        "max_active_adds": 2,
        "add_order_quote": 150,
        "step_pct": 1.5,
        "step_scale": 1.2,
        "volume_scale": 1.5,
        "min_avg_improvement_pct": 0.3,
    },
    "recovery_mode": {"enabled": True, "adds_used_ratio": 0.6, "take_profit_pct": 0.4},
}


def bot(daemon: DaemonProc) -> dict[str, Any]:
    return next(b for b in daemon.status()["bots"] if b["strategy"] == BOT)


def group(daemon: DaemonProc) -> dict[str, Any] | None:
    groups = bot(daemon).get("groups") or []
    return groups[0] if len(groups) == 1 else None


def test_a_paper_short_on_kucoin_futures_opens_adds_above_and_closes_at_take_profit(
    tmp_path: Path,
) -> None:
    sandbox = SandboxProc(tmp_path / "sandbox", [{
        "exchange": "kucoin", "api_key": KEY, "api_secret": SECRET,
        "passphrase": CANARY_PASSPHRASE, "permissions": ["General", "Spot", "Futures"],
        "ip_whitelist": ["127.0.0.1"], "balances": {"USDT": 1000}}])  # fmt: skip
    admin = sandbox.mexc_url
    try:
        http(f"{admin}/__sandbox/market", "POST", {"symbol": PAIR, "price": 60000.0})
        endpoints = {"spot": f"http://127.0.0.1:{sandbox.kucoin_port}",
                     "futures": f"http://127.0.0.1:{sandbox.kucoin_futures_port}"}  # fmt: skip
        repo = ConfigRepo(tmp_path / "repo", {"main.yaml": {
            "version": 1, "policy": {"egress_ips": ["127.0.0.1"]},
            "connections": [{"name": CONN, "exchange": "kucoin", "markets": ["spot", "futures"],
                             "api_key": KEY, "api_secret": SECRET,
                             "passphrase": CANARY_PASSPHRASE, "endpoints": endpoints}],
            "strategies": [STRATEGY]}})  # fmt: skip
        daemon = DaemonProc(repo.path, tmp_path, repo.key_file, extra_env=TICK_ENV)
        try:
            wait_until(lambda: daemon.connection(CONN).get("status") == "online", 30, "online")
            g = wait_until(
                lambda: (
                    (x := group(daemon)) and x["base_price"] and len(x["add_prices"]) == 3 and x
                ),
                30,
                "a short group with its ladder",
            )
            status = bot(daemon)
            assert status["side"] == "short"
            assert status["trading_mode"] == "paper"
            assert g["side"] == "short"
            base = float(g["base_price"])
            assert 59000 < base <= 60000  # a marketable sell: at or below the bid
            adds = [float(p) for p in g["add_prices"]]
            assert base < adds[0] < adds[1] < adds[2]  # above the entry, farther each step
            tp = wait_until(lambda: (x := group(daemon)) and x["take_profit_price"], 30, "TP")
            assert float(tp) < float(g["average_price"])  # the buy-back sits below the average

            path = [[0, 60000], [1.0, 62300]]  # through add 1 (+1.5 %) and add 2 (+3.3 %)
            http(f"{admin}/__sandbox/market", "POST", {"symbol": PAIR, "path": path})
            g = wait_until(
                lambda: (x := group(daemon)) and x["filled_adds"] >= 2 and x, 30, "two adds"
            )
            assert float(g["average_price"]) > base  # adds above raise a short's average
            g = wait_until(
                lambda: (x := group(daemon)) and x["mode"] == "recovery" and x, 30, "recovery"
            )
            assert g["recovery_reason"] in ("adds_used", "margin_used")
            assert float(bot(daemon)["committed_quote"]) <= 1000

            path = [[0, 62300], [1.0, 59500]]  # down through the take profit
            http(f"{admin}/__sandbox/market", "POST", {"symbol": PAIR, "path": path})
            wait_until(lambda: bot(daemon)["closed_groups"] >= 1, 30, "the take profit filled")
            assert float(bot(daemon)["realized_pnl"]) > 0
            counts = {(o["side"], o["result"]): o["count"] for o in bot(daemon)["orders"]}
            assert counts[("sell", "filled")] >= 3  # the entry and two adds sold
            assert counts[("buy", "filled")] >= 1  # the take profit bought back
            audit = http(f"{admin}/__sandbox/orders?api_key={KEY}")
            assert isinstance(audit, dict)
            assert audit["orders"] == []  # paper: nothing reached the exchange
        finally:
            daemon.signal(signal.SIGTERM)
            daemon.wait(20)
            daemon.stop()
    finally:
        sandbox.stop()
