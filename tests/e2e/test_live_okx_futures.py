"""End to end, live OKX swaps in `backfuture run` (real daemon and sandbox processes): a `mode:
live, market: futures, leverage: 3` strategy on an OKX connection (passphrase, SOPS-encrypted,
account in Spot and futures mode) passes its connection test, opens a long on BTC-USDT-SWAP
(isolated, leverage 3), adds as the price falls and closes at take profit; the sandbox's audit
(`GET /__sandbox/orders?api_key=…`) shows swap orders only, one per client order id, each an
OKX clOrdId (letters and digits), the position at leverage 3 holding what the bot holds; the
key, its secret and passphrase (canaries) appear in no log (DEBUG), /status or /metrics.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers.processes import (
    ConfigRepo,
    DaemonProc,
    Proc,
    _cli,
    free_port,
    http,
    wait_until,
)

pytestmark = pytest.mark.e2e
CONN, BOT, PAIR = "OKX Swaps Live", "BTC Swap Live", "BTC/USDT"
KEY = "0c1a2b3c-4d5e-4f60-8a71-0000000a0f17"
SECRET, PASSPHRASE = "CANARYokxswapsecret5555ffff", "CANARYokxswappass6666"
TICK_ENV = {"BACKFUTURE_BOTS_TICK_SECONDS": "0.2", "BACKFUTURE_LOG_LEVEL": "DEBUG"}
OKX_ID = re.compile(r"^bf[A-Za-z0-9]{1,30}$")
#: BTC-USDT-SWAP is 0.01 BTC a contract, traded in 0.01 of a contract (~6 USDT at 60,000).
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


class OkxSandbox(Proc):
    """`backfuture sandbox` with one OKX key (1,000 USDT) and every venue on a free port."""

    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        keys = workdir / "sandbox-keys.yaml"
        key = {"exchange": "okx", "api_key": KEY, "api_secret": SECRET,
               "passphrase": PASSPHRASE, "permissions": ["read_only", "trade"],
               "ip_whitelist": ["127.0.0.1"], "balances": {"USDT": 1000}}  # fmt: skip
        keys.write_text(yaml.safe_dump({"keys": [key]}), encoding="utf-8")
        self.admin_port, self.okx_port = free_port(), free_port()
        argv = _cli("sandbox", "--keys", str(keys), "--mexc-port", str(self.admin_port),
                    "--okx-port", str(self.okx_port),
                    *(arg for name in ("kucoin", "kucoin-futures", "binance", "bybit")
                      for arg in (f"--{name}-port", "0")))  # fmt: skip
        super().__init__(argv, workdir / "sandbox.log", dict(os.environ))
        try:
            wait_until(lambda: http(f"{self.admin}/api/v3/ping") == {}, 30, "sandbox up")
        except BaseException:
            self.stop()
            raise

    @property
    def admin(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def account(self) -> dict[str, Any]:
        doc = http(f"{self.admin}/__sandbox/orders?api_key={KEY}")
        assert isinstance(doc, dict)
        return doc

    def market(self, **body: Any) -> None:
        http(f"{self.admin}/__sandbox/market", "POST", {"symbol": PAIR, **body})


def bot(daemon: DaemonProc) -> dict[str, Any]:
    entry = next(b for b in daemon.status()["bots"] if b["strategy"] == BOT)
    assert isinstance(entry, dict)
    return entry


def test_a_live_okx_swap_bot_trades_one_order_per_client_id_and_shows_no_secret(
    tmp_path: Path,
) -> None:
    sandbox = OkxSandbox(tmp_path / "sandbox")
    try:
        sandbox.market(price=60000.0)
        repo = ConfigRepo(tmp_path / "repo", {"main.yaml": {
            "version": 1, "policy": {"egress_ips": ["127.0.0.1"]},
            "connections": [{"name": CONN, "exchange": "okx", "markets": ["spot", "futures"],
                             "api_key": KEY, "api_secret": SECRET, "passphrase": PASSPHRASE,
                             "endpoints": {"spot": f"http://127.0.0.1:{sandbox.okx_port}"}}],
            "strategies": [STRATEGY]}})  # fmt: skip
        daemon = DaemonProc(repo.path, tmp_path, repo.key_file, extra_env=TICK_ENV)

        def positions() -> list[dict[str, Any]]:
            return list(sandbox.account()["positions"])

        try:
            wait_until(lambda: daemon.connection(CONN).get("status") == "online", 30, "online")
            wait_until(lambda: bot(daemon).get("groups"), 30, "a live swap group")
            wait_until(lambda: len(bot(daemon)["groups"][0]["add_prices"]) >= 1, 30, "adds rest")
            (pos,) = positions()
            assert (pos["instrument_id"], pos["leverage"]) == ("BTC-USDT-SWAP", "3")
            assert Decimal(pos["contracts"]) >= Decimal("0.2")  # 150 USDT ≈ 0.24 contract
            sandbox.market(path=[[0, 60000], [1.0, 57600]])  # through add 1 and add 2
            wait_until(lambda: bot(daemon)["groups"][0]["filled_adds"] >= 2, 30, "two adds")
            assert float(bot(daemon)["committed_quote"]) <= 1000
            sandbox.market(path=[[0, 57600], [1.0, 60500]])  # through the take profit
            wait_until(lambda: bot(daemon)["closed_groups"] >= 1, 30, "the take profit filled")
            entry = bot(daemon)
            assert Decimal(str(entry["realized_pnl"])) > 0
            assert entry["last_error"] == ""
            time.sleep(0.5)

            orders = sandbox.account()["orders"]
            ids = Counter(str(o["client_order_id"]) for o in orders)
            assert ids
            assert max(ids.values()) == 1  # never two exchange orders for one client id
            assert all(OKX_ID.match(cid) for cid in ids), ids
            assert {(o["market"], o["instrument_id"]) for o in orders} == {
                ("futures", "BTC-USDT-SWAP")
            }
            sides = Counter((o["side"], o["status"]) for o in orders)
            assert sides[("buy", "filled")] >= 3  # base, add 1, add 2
            assert sides[("sell", "filled")] >= 1  # the take profit

            def position_is_the_books() -> bool:  # the next group may have opened meanwhile
                (pos,) = positions()
                held = sum(Decimal(str(g["amount"])) for g in bot(daemon)["groups"])
                return (pos["leverage"], Decimal(pos["contracts"]) / 100) == ("3", held)

            wait_until(position_is_the_books, 10, "the position is what the bot holds")
            status, metrics = repr(daemon.status()), daemon.metrics()
        finally:
            daemon.signal(signal.SIGTERM)
            assert daemon.wait(20) == 0
            daemon.stop()
        logs = daemon.output()
        assert "bot fill" in logs
        assert "no futures market data" not in logs  # it decides on the swap's own prices
        for secret in (KEY, SECRET, PASSPHRASE):
            for surface in (logs, status, metrics):
                assert secret not in surface, secret
    finally:
        sandbox.stop()
