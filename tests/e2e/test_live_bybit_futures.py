"""End to end, live futures on Bybit in `backfuture run` (real daemon and sandbox processes): a
`mode: live, market: futures, leverage: 3` strategy on a Bybit connection (spot + futures, its
unified account set to isolated margin by its owner) passes its connection test, opens a long on
the BTCUSDT linear perpetual, adds as the price falls and closes at take profit. The sandbox's
audit (`GET /__sandbox/orders` on the Bybit port) shows futures orders only, one per orderLinkId,
the position at leverage 3; the same strategy on an account left in cross margin sends nothing.
No secret (canary key and secret) appears in the DEBUG logs, /status or /metrics.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import ccxt
import pytest
import yaml

from backfuture_daemon.configuration.models import Endpoints
from backfuture_daemon.exchanges.bybit import client_spec
from tests.helpers.processes import ConfigRepo, DaemonProc, Proc, _cli, free_port, http, wait_until

pytestmark = pytest.mark.e2e
CONN, BOT, PAIR = "Bybit Futures Live", "BTC Bybit Futures", "BTC/USDT"
API_KEY = "BYBITe2eCANARYf0001"
API_SECRET = "CANARY-bybit-futures-e2e-secret-0001-abcdef"
PERMS = ["Spot.SpotTrade", "ContractTrade.Order", "ContractTrade.Position"]
ENV = {"BACKFUTURE_BOTS_TICK_SECONDS": "0.2", "BACKFUTURE_LOG_LEVEL": "DEBUG",
       "BACKFUTURE_LOG_FORMAT": "json"}  # fmt: skip
#: BTCUSDT linear: qty in BTC on a 0.001 step (~60 USDT at 60,000): orders of 0.002-0.005 BTC.
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
}


class BybitSandbox(Proc):
    """`backfuture sandbox` with every venue on a free port and one Bybit key (1000 USDT) that
    may trade spot and contracts."""

    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        keys = workdir / "sandbox-keys.yaml"
        key = {"exchange": "bybit", "api_key": API_KEY, "api_secret": API_SECRET,
               "permissions": PERMS, "ip_whitelist": ["127.0.0.1"],
               "balances": {"USDT": 1000}}  # fmt: skip
        keys.write_text(yaml.safe_dump({"keys": [key]}), encoding="utf-8")
        self.port = free_port()
        names = ("mexc", "kucoin", "kucoin-futures", "binance", "okx")
        argv = _cli("sandbox", "--keys", str(keys), "--bybit-port", str(self.port),
                    *(a for n in names for a in (f"--{n}-port", str(free_port()))))  # fmt: skip
        super().__init__(argv, workdir / "sandbox.log", dict(os.environ))
        try:
            wait_until(lambda: http(f"{self.url}/v5/market/time").get("retCode") == 0 or None,
                       30, "sandbox up")  # fmt: skip
        except BaseException:
            self.stop()
            raise

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def market(self, **body: Any) -> None:
        http(f"{self.url}/__sandbox/market", "POST", {"symbol": PAIR, **body})

    def account(self) -> dict[str, Any]:
        doc = http(f"{self.url}/__sandbox/orders?api_key={API_KEY}")
        assert isinstance(doc, dict)
        return doc

    def isolate(self) -> None:
        """What the key's owner does once on Bybit: the unified account to isolated margin
        (`POST /v5/account/set-margin-mode`, signed, through ccxt)."""
        urls = {"api": client_spec(Endpoints(spot=self.url)).urls}
        client = ccxt.bybit({"apiKey": API_KEY, "secret": API_SECRET, "urls": urls})
        answer = client.privatePostV5AccountSetMarginMode({"setMarginMode": "ISOLATED_MARGIN"})
        assert answer["retCode"] == "0" or answer["retCode"] == 0


def config(tmp_path: Path, sandbox: BybitSandbox) -> ConfigRepo:
    connection = {"name": CONN, "exchange": "bybit", "markets": ["spot", "futures"],
                  "api_key": API_KEY, "api_secret": API_SECRET,
                  "endpoints": {"spot": sandbox.url}}  # fmt: skip
    return ConfigRepo(tmp_path / "repo", {"main.yaml": {
        "version": 1, "policy": {"egress_ips": ["127.0.0.1"]},
        "connections": [connection], "strategies": [STRATEGY]}})  # fmt: skip


def bot(daemon: DaemonProc) -> dict[str, Any]:
    return next(b for b in daemon.status()["bots"] if b["strategy"] == BOT)


def test_a_live_futures_bot_trades_on_bybit_with_one_order_per_client_id(tmp_path: Path) -> None:
    sandbox = BybitSandbox(tmp_path / "sandbox")
    try:
        sandbox.market(price=60000.0)
        sandbox.isolate()
        repo = config(tmp_path, sandbox)
        daemon = DaemonProc(repo.path, tmp_path, repo.key_file, extra_env=ENV)
        try:
            wait_until(lambda: daemon.connection(CONN).get("status") == "online" or None, 30,
                       "the Bybit connection online")  # fmt: skip
            wait_until(lambda: bot(daemon).get("groups"), 30, "a live futures group")
            wait_until(lambda: len(bot(daemon)["groups"][0]["add_prices"]) >= 1, 30, "adds rest")
            (pos,) = sandbox.account()["positions"]
            assert (pos["instrument_id"], pos["leverage"]) == ("BTCUSDT", "3")
            assert float(pos["contracts"]) >= 0.002
            sandbox.market(path=[[0, 60000], [1.0, 57600]])  # through add 1 and add 2
            wait_until(lambda: bot(daemon)["groups"][0]["filled_adds"] >= 2, 30, "two adds")
            assert float(bot(daemon)["committed_quote"]) <= 1000
            sandbox.market(path=[[0, 57600], [1.0, 60500]])  # through the take profit
            wait_until(lambda: bot(daemon)["closed_groups"] >= 1, 30, "the take profit filled")
            assert float(bot(daemon)["realized_pnl"]) > 0
            time.sleep(0.5)
            surfaces = {"status": str(daemon.get("/status")), "metrics": daemon.metrics()}
        finally:
            daemon.signal(signal.SIGTERM)
            daemon.wait(20)
            daemon.stop()
        orders = sandbox.account()["orders"]
        ids = Counter(str(o["client_order_id"]) for o in orders)
        assert max(ids.values()) == 1, ids  # one exchange order per orderLinkId
        assert all(cid.startswith("bf") for cid in ids)
        assert {(o["market"], o["instrument_id"]) for o in orders} == {("futures", "BTCUSDT")}
        assert any(o["side"] == "sell" and o["status"] == "filled" for o in orders)
        assert [p["leverage"] for p in sandbox.account()["positions"]] == ["3"]
        surfaces["logs"] = daemon.output()
        assert '"level": "DEBUG"' in surfaces["logs"]
        for where, text in surfaces.items():
            for secret in (API_KEY, API_SECRET):
                assert secret not in text, f"a secret leaked into {where}"
    finally:
        sandbox.stop()


def test_an_account_left_in_cross_margin_sends_no_futures_order(tmp_path: Path) -> None:
    sandbox = BybitSandbox(tmp_path / "sandbox")
    try:
        sandbox.market(price=60000.0)
        repo = config(tmp_path, sandbox)  # no isolate(): the unified account is cross margin
        daemon = DaemonProc(repo.path, tmp_path, repo.key_file, extra_env=ENV)
        try:
            wait_until(lambda: daemon.connection(CONN).get("status") == "online" or None, 30,
                       "the Bybit connection online")  # fmt: skip
            # the order is refused before anything is sent, and the log says why and what to do
            wait_until(lambda: "not isolated" in daemon.output() or None, 30, "why, in the log")
            assert "Isolated Margin" in daemon.output()
            # /status says it too, on the bot, until an order passes
            bot = wait_until(lambda: _bot(daemon, "not isolated"), 30, "why, in /status")
            assert bot["last_error"].startswith("order_rejected: ")
            time.sleep(1.0)
            assert sandbox.account()["orders"] == []
            sandbox.isolate()  # the owner fixes it: the bot trades after its back-off, no restart
            orders = wait_until(lambda: sandbox.account()["orders"] or None, 45, "the first order")
            assert {o["market"] for o in orders} == {"futures"}
            wait_until(lambda: not _bot(daemon, "not isolated") or None, 30,
                       "the refusal gone from /status once an order passed")  # fmt: skip
        finally:
            daemon.signal(signal.SIGTERM)
            daemon.wait(20)
            daemon.stop()
        for secret in (API_KEY, API_SECRET):
            assert secret not in daemon.output()
    finally:
        sandbox.stop()


def _bot(daemon: DaemonProc, error: str) -> dict[str, Any] | None:
    """The bot's /status entry when its last_error contains `error` ("" matches any)."""
    for bot in daemon.status()["bots"]:
        if error in str(bot.get("last_error") or ""):
            return dict(bot)
    return None
