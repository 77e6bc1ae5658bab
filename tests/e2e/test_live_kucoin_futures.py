"""End to end, live futures in `backfuture run` (real daemon and sandbox processes): a `mode: live,
market: futures, leverage: 3` strategy on a KuCoin connection whose test passed opens a long on
XBTUSDTM, adds as the price falls and closes at take profit; the sandbox's audit
(`GET /__sandbox/orders`) shows futures orders only, one per client order id, the position at
leverage 3, and the canary key, secret and passphrase appear in no log, /status or /metrics.
"""

from __future__ import annotations

import shutil
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.configrepo import CANARIES, CANARY_KEY, CANARY_PASSPHRASE, CANARY_SECRET
from tests.helpers.processes import ConfigRepo, DaemonProc, SandboxProc, http, wait_until

pytestmark = pytest.mark.e2e
CONN, BOT, PAIR = "KuCoin Futures Live", "BTC Futures Live", "BTC/USDT"
KEY, SECRET = "kc-" + CANARY_KEY, "kc-" + CANARY_SECRET
TICK_ENV = {"BACKFUTURE_BOTS_TICK_SECONDS": "0.2"}
#: XBTUSDTM is 0.001 BTC a contract (~60 USDT at 60,000): orders of 2 to 5 contracts.
STRATEGY: dict[str, Any] = {
    "name": BOT,
    "connection": CONN,
    "market": "futures",
    "leverage": 3,
    "mode": "live",
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


PERMS = ["General", "Spot", "Futures"]


def start(tmp_path: Path, permissions: list[str]) -> tuple[SandboxProc, ConfigRepo]:
    """The sandbox (one KuCoin key with a futures wallet of 1,000 USDT, BTC held at 60,000) and
    the config repository with the live futures strategy."""
    sandbox = SandboxProc(tmp_path / "sandbox", [{
        "exchange": "kucoin", "api_key": KEY, "api_secret": SECRET,
        "passphrase": CANARY_PASSPHRASE, "permissions": permissions,
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


def account(sandbox: SandboxProc) -> dict[str, Any]:
    doc = http(f"{sandbox.mexc_url}/__sandbox/orders?api_key={KEY}")
    assert isinstance(doc, dict)
    return doc


def test_a_live_futures_bot_trades_on_kucoin_with_one_order_per_client_id(
    tmp_path: Path,
) -> None:
    sandbox, repo = start(tmp_path, PERMS)
    admin = sandbox.mexc_url
    try:
        daemon = DaemonProc(repo.path, tmp_path, repo.key_file, extra_env=TICK_ENV)

        def audit() -> list[dict[str, Any]]:
            return list(account(sandbox)["orders"])

        def positions() -> list[dict[str, Any]]:
            return list(account(sandbox)["positions"])

        try:
            wait_until(lambda: daemon.connection(CONN).get("status") == "online", 30, "online")
            wait_until(lambda: bot(daemon).get("groups"), 30, "a live futures group")
            wait_until(lambda: len(bot(daemon)["groups"][0]["add_prices"]) >= 1, 30, "adds rest")
            (pos,) = positions()
            assert (pos["instrument_id"], pos["leverage"]) == ("XBTUSDTM", "3")
            assert int(pos["contracts"]) >= 2
            path = [[0, 60000], [1.0, 57600]]  # through add 1 and add 2
            http(f"{admin}/__sandbox/market", "POST", {"symbol": PAIR, "path": path})
            wait_until(lambda: bot(daemon)["groups"][0]["filled_adds"] >= 2, 30, "two adds")
            assert float(bot(daemon)["committed_quote"]) <= 1000
            path = [[0, 57600], [1.0, 60500]]  # through the take profit
            http(f"{admin}/__sandbox/market", "POST", {"symbol": PAIR, "path": path})
            wait_until(lambda: bot(daemon)["closed_groups"] >= 1, 30, "the take profit filled")
            assert float(bot(daemon)["realized_pnl"]) > 0
            time.sleep(0.5)

            orders = audit()
            ids = Counter(o["client_order_id"] for o in orders)
            assert max(ids.values()) == 1  # never two exchange orders for one client id
            assert all(str(cid).startswith("bf") for cid in ids)
            assert {o["market"] for o in orders} == {"futures"}
            assert any(o["side"] == "sell" and o["status"] == "filled" for o in orders)
            assert [p["leverage"] for p in positions()] == ["3"]
            status_text = str(daemon.status())
            metrics = daemon.metrics()
            limit = [
                line
                for line in metrics.splitlines()
                if line.startswith("backfuture_bot_margin_limit_quote{") and BOT in line
            ]
            assert len(limit) == 1
            assert limit[0].endswith(" 1000.0")  # fmt: skip
        finally:
            daemon.signal(signal.SIGTERM)
            daemon.wait(20)
            daemon.stop()
        output = daemon.output()
        for canary in (*CANARIES, KEY, SECRET):
            assert canary not in output, canary
            assert canary not in status_text, canary
            assert canary not in metrics, canary
    finally:
        sandbox.stop()


def test_a_withdraw_enabled_key_never_trades_futures_until_the_permission_is_gone(
    tmp_path: Path,
) -> None:
    sandbox, repo = start(tmp_path, [*PERMS, "Transfer"])  # Transfer: withdrawal on KuCoin
    try:
        daemon = DaemonProc(repo.path, tmp_path, repo.key_file, extra_env=TICK_ENV)
        try:
            wait_until(lambda: daemon.connection(CONN).get("status") == "failed", 30, "failed")
            for _ in range(20):  # 2 s of 0.2 s ticks
                assert account(sandbox)["orders"] == []
                time.sleep(0.1)
            assert daemon.bots()[BOT] == "paused"
            sandbox.key(KEY, permissions=PERMS)
            orders = wait_until(lambda: account(sandbox)["orders"], 60, "the first futures order")
            assert {o["market"] for o in orders} == {"futures"}
        finally:
            daemon.signal(signal.SIGTERM)
            daemon.wait(20)
            daemon.stop()
        for canary in (*CANARIES, KEY, SECRET):
            assert canary not in daemon.output(), canary
    finally:
        sandbox.stop()


FIELDS = ("group_id", "base_price", "average_price", "amount", "filled_adds", "committed_quote",
          "take_profit_price")  # fmt: skip


def live_book(daemon: DaemonProc) -> dict[str, Any] | None:
    entry = bot(daemon)
    if entry.get("gate") != "run" or not entry.get("groups"):
        return None
    return {
        "committed_quote": entry["committed_quote"],
        "groups": [{k: g[k] for k in FIELDS} for g in entry["groups"]],
    }


def test_a_deleted_state_directory_is_rebuilt_from_the_futures_account(tmp_path: Path) -> None:
    sandbox, repo = start(tmp_path, PERMS)
    state = tmp_path / "state"
    try:
        daemon = DaemonProc(repo.path, tmp_path, repo.key_file, state_dir=state,
                            extra_env=TICK_ENV)  # fmt: skip
        try:
            wait_until(lambda: live_book(daemon), 30, "a live futures group")
            path = [[0, 60000], [0.5, 59000]]  # add 1 (~59,100) fills, the take profit moves
            http(f"{sandbox.mexc_url}/__sandbox/market", "POST", {"symbol": PAIR, "path": path})

            def after_add() -> dict[str, Any] | None:
                book = live_book(daemon)
                return book if book and book["groups"][0]["filled_adds"] == 1 else None

            wait_until(after_add, 30, "add 1 filled")
            time.sleep(1.5)  # quiet: the new take profit rests
            before = live_book(daemon)
            orders_before = account(sandbox)["orders"]
        finally:
            daemon.p.send_signal(signal.SIGKILL)
            daemon.wait(10)
            daemon.stop()
        shutil.rmtree(state)  # the volume is lost

        again = DaemonProc(repo.path, tmp_path, repo.key_file, state_dir=state,
                           extra_env=TICK_ENV)  # fmt: skip
        try:
            wait_until(lambda: live_book(again) == before, 30, "the same book rebuilt")
            time.sleep(1.0)
            assert live_book(again) == before
            assert account(sandbox)["orders"] == orders_before  # nothing sent or cancelled
            assert "live book rebuilt from the exchange" in again.output()
        finally:
            again.signal(signal.SIGTERM)
            again.wait(20)
            again.stop()
    finally:
        sandbox.stop()
