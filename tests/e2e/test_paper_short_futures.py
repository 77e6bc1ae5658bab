"""End to end, a paper short on futures (issue 10) in `backfuture run` (real daemon and sandbox
processes): a `mode: paper, market: futures, side: short` strategy on a KuCoin connection opens
short with a sell, rests its adds ABOVE the entry, sells into them as the price rises, enters
Recovery Mode, and buys back at take profit below the average as the price falls, with positive
realised PnL; /status shows side short for the bot and its group, the committed quote never passes
the margin limit, and no order reaches the exchange (paper). The second test restarts the daemon
in the middle of the group: the short group comes back from SQLite and closes, nothing sold twice.
"""

from __future__ import annotations

import signal
import sqlite3
from collections.abc import Callable
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


def start(tmp_path: Path) -> tuple[SandboxProc, ConfigRepo]:
    """The sandbox (a KuCoin key with futures, BTC at 60,000) and the config repository."""
    sandbox = SandboxProc(tmp_path / "sandbox", [{
        "exchange": "kucoin", "api_key": KEY, "api_secret": SECRET,
        "passphrase": CANARY_PASSPHRASE, "permissions": ["General", "Spot", "Futures"],
        "ip_whitelist": ["127.0.0.1"], "balances": {"USDT": 1000}}])  # fmt: skip
    try:
        http(f"{sandbox.mexc_url}/__sandbox/market", "POST", {"symbol": PAIR, "price": 60000.0})
        endpoints = {"spot": f"http://127.0.0.1:{sandbox.kucoin_port}",
                     "futures": f"http://127.0.0.1:{sandbox.kucoin_futures_port}"}  # fmt: skip
        repo = ConfigRepo(tmp_path / "repo", {"main.yaml": {
            "version": 1, "policy": {"egress_ips": ["127.0.0.1"]},
            "connections": [{"name": CONN, "exchange": "kucoin", "markets": ["spot", "futures"],
                             "api_key": KEY, "api_secret": SECRET,
                             "passphrase": CANARY_PASSPHRASE, "endpoints": endpoints}],
            "strategies": [STRATEGY]}})  # fmt: skip
    except BaseException:
        sandbox.stop()
        raise
    return sandbox, repo


def move(sandbox: SandboxProc, start: float, end: float) -> None:
    path = [[0, start], [1.0, end]]
    http(f"{sandbox.mexc_url}/__sandbox/market", "POST", {"symbol": PAIR, "path": path})


def group_where(
    daemon: DaemonProc, check: Callable[[dict[str, Any]], bool]
) -> dict[str, Any] | None:
    g = group(daemon)
    return g if g is not None and check(g) else None


def opened(daemon: DaemonProc) -> dict[str, Any]:
    """The short group with its ladder and its take profit resting."""
    wait_until(lambda: daemon.connection(CONN).get("status") == "online", 30, "online")

    def ready(g: dict[str, Any]) -> bool:
        return bool(g["base_price"] and len(g["add_prices"]) == 3 and g["take_profit_price"])

    return wait_until(lambda: group_where(daemon, ready), 30, "a short group with its ladder")


def rose_into_recovery(sandbox: SandboxProc, daemon: DaemonProc) -> dict[str, Any]:
    move(sandbox, 60000, 62300)  # through add 1 (+1.5 %) and add 2 (+3.3 %), not add 3
    wait_until(lambda: group_where(daemon, lambda g: g["filled_adds"] >= 2), 30, "two adds")
    g = wait_until(
        lambda: group_where(daemon, lambda g: g["mode"] == "recovery" and g["take_profit_price"]),
        30,
        "recovery",
    )
    assert g["recovery_reason"] in ("adds_used", "margin_used")
    assert float(bot(daemon)["committed_quote"]) <= 1000
    return g


def closed_at_take_profit(sandbox: SandboxProc, daemon: DaemonProc) -> None:
    move(sandbox, 62300, 59500)  # down through the take profit
    wait_until(lambda: bot(daemon)["closed_groups"] >= 1, 30, "the take profit filled")
    assert float(bot(daemon)["realized_pnl"]) > 0
    counts = {(o["side"], o["result"]): o["count"] for o in bot(daemon)["orders"]}
    # the entry and two adds sold (and maybe the next group's entry, opened right after)
    assert counts[("sell", "filled")] >= 3
    assert counts[("buy", "filled")] == 1  # the take profit bought back
    audit = http(f"{sandbox.mexc_url}/__sandbox/orders?api_key={KEY}")
    assert isinstance(audit, dict)
    assert audit["orders"] == []  # paper: nothing reached the exchange


def stopped(daemon: DaemonProc) -> None:
    daemon.signal(signal.SIGTERM)
    daemon.wait(20)
    daemon.stop()


def test_a_paper_short_on_kucoin_futures_opens_adds_above_and_closes_at_take_profit(
    tmp_path: Path,
) -> None:
    sandbox, repo = start(tmp_path)
    try:
        daemon = DaemonProc(repo.path, tmp_path, repo.key_file, extra_env=TICK_ENV)
        try:
            g = opened(daemon)
            status = bot(daemon)
            assert status["side"] == "short"
            assert status["trading_mode"] == "paper"
            assert g["side"] == "short"
            base = float(g["base_price"])
            assert 59000 < base <= 60000  # a marketable sell: at or below the bid
            adds = [float(p) for p in g["add_prices"]]
            assert base < adds[0] < adds[1] < adds[2]  # above the entry, farther each step
            assert float(g["take_profit_price"]) < float(g["average_price"])  # buy back below
            g = rose_into_recovery(sandbox, daemon)
            assert float(g["average_price"]) > base  # adds above raise a short's average
            assert float(g["take_profit_price"]) < float(g["average_price"])
            closed_at_take_profit(sandbox, daemon)
        finally:
            stopped(daemon)
    finally:
        sandbox.stop()


def test_a_paper_short_resumes_after_a_daemon_restart(tmp_path: Path) -> None:
    sandbox, repo = start(tmp_path)
    state_dir = tmp_path / "state"
    try:
        first = DaemonProc(
            repo.path, tmp_path, repo.key_file, state_dir=state_dir, extra_env=TICK_ENV
        )
        try:
            opened(first)
            before = rose_into_recovery(sandbox, first)
        finally:
            stopped(first)
        second = DaemonProc(
            repo.path, tmp_path, repo.key_file, state_dir=state_dir, extra_env=TICK_ENV
        )
        try:
            resumed = wait_until(
                lambda: group_where(second, lambda g: g["group_id"] == before["group_id"]),
                30,
                "the short group resumed",
            )
            for k in ("side", "base_price", "average_price", "amount", "filled_adds", "mode"):
                assert resumed[k] == before[k], k
            closed_at_take_profit(sandbox, second)
        finally:
            stopped(second)
    finally:
        sandbox.stop()
    # The SQLite ledger of the closed group: one entry sell, two add sells, the take profit's
    # buy-back, each filled once across the restart.
    conn = sqlite3.connect(f"file:{state_dir / 'backfuture.sqlite'}?mode=ro", uri=True)
    try:
        fills = conn.execute(
            "SELECT o.purpose, o.step, o.side FROM orders o JOIN fills f ON f.strategy ="
            " o.strategy AND f.mode = o.mode AND f.client_order_id = o.client_order_id"
            " WHERE o.group_id = ? ORDER BY f.at",
            (str(before["group_id"]),),
        ).fetchall()
    finally:
        conn.close()
    assert fills == [
        ("base", 0, "sell"),
        ("add", 1, "sell"),
        ("add", 2, "sell"),
        ("take_profit", 2, "buy"),
    ]
