"""End to end (real daemon and sandbox processes): a `mode: paper, market: futures` bot on KuCoin
decides and fills on the PERPETUAL's own prices, not on the spot pair's. The sandbox holds spot
BTC at 60,000 and quotes XBTUSDTM at a +1 % basis (60,600): the futures bot's entry buys at the
perp's ask and its take profit sits 1.2 % above that; a spot bot on the same connection and pair
enters at spot's ask. Then the basis widens to +2.5 % while spot does not move at all: the
futures take profit fills on the perp's book (the spot bot's group stays open) with a profit.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.configrepo import CANARY_KEY, CANARY_PASSPHRASE, CANARY_SECRET
from tests.helpers.processes import ConfigRepo, DaemonProc, SandboxProc, http, wait_until

pytestmark = pytest.mark.e2e
CONN, PAIR = "KuCoin Futures Paper", "BTC/USDT"
FUT, SPOT = "BTC Perp Long", "BTC Spot Long"
KEY, SECRET = "kcs-" + CANARY_KEY, "kcs-" + CANARY_SECRET
TICK_ENV = {"BACKFUTURE_BOTS_TICK_SECONDS": "0.2"}
SPOT_PRICE, BASIS = 60000.0, 0.01
PERP_PRICE = SPOT_PRICE * (1 + BASIS)  # 60,600


def strategy(name: str, market: str) -> dict[str, Any]:
    return {
        "name": name,
        "connection": CONN,
        "market": market,
        "mode": "paper",
        "pairs": [PAIR],
        "margin_limit": 1000,
        "max_active_groups": 1,
        "base_order_quote": 150,
        "take_profit_pct": 1.2,
        "adding": {"max_adds": 2, "max_active_adds": 1, "add_order_quote": 150, "step_pct": 3},
    }


def bot(daemon: DaemonProc, name: str) -> dict[str, Any]:
    return next(b for b in daemon.status()["bots"] if b["strategy"] == name)


def opened(daemon: DaemonProc, name: str) -> dict[str, Any] | None:
    groups = bot(daemon, name).get("groups") or []
    g = groups[0] if len(groups) == 1 else None
    return g if g is not None and g["base_price"] and g["take_profit_price"] else None


def market(sandbox: SandboxProc, body: dict[str, Any]) -> None:
    http(f"{sandbox.mexc_url}/__sandbox/market", "POST", {"symbol": PAIR, **body})


def test_a_paper_futures_bot_enters_and_takes_profit_on_the_perp_not_on_spot(
    tmp_path: Path,
) -> None:
    sandbox = SandboxProc(tmp_path / "sandbox", [{
        "exchange": "kucoin", "api_key": KEY, "api_secret": SECRET,
        "passphrase": CANARY_PASSPHRASE, "permissions": ["General", "Spot", "Futures"],
        "ip_whitelist": ["127.0.0.1"], "balances": {"USDT": 1000}}])  # fmt: skip
    try:
        market(sandbox, {"price": SPOT_PRICE})
        market(sandbox, {"basis": BASIS})
        endpoints = {"spot": f"http://127.0.0.1:{sandbox.kucoin_port}",
                     "futures": f"http://127.0.0.1:{sandbox.kucoin_futures_port}"}  # fmt: skip
        repo = ConfigRepo(tmp_path / "repo", {"main.yaml": {
            "version": 1, "policy": {"egress_ips": ["127.0.0.1"]},
            "connections": [{"name": CONN, "exchange": "kucoin", "markets": ["spot", "futures"],
                             "api_key": KEY, "api_secret": SECRET,
                             "passphrase": CANARY_PASSPHRASE, "endpoints": endpoints}],
            "strategies": [strategy(FUT, "futures"), strategy(SPOT, "spot")]}})  # fmt: skip
        daemon = DaemonProc(repo.path, tmp_path, repo.key_file, extra_env=TICK_ENV)
        try:
            wait_until(lambda: daemon.connection(CONN).get("status") == "online", 30, "online")
            fut = wait_until(lambda: opened(daemon, FUT), 30, "the futures group")
            spot = wait_until(lambda: opened(daemon, SPOT), 30, "the spot group")
            base = float(fut["base_price"])
            # A marketable buy at the perp's ask (60,600.1), not spot's (60,000.01).
            assert PERP_PRICE <= base <= PERP_PRICE + 1, fut
            assert float(fut["take_profit_price"]) == pytest.approx(base * 1.012, abs=0.2)
            assert float(fut["take_profit_price"]) > 61_000  # spot never gets there below
            assert float(fut["amount"]) % 0.001 == pytest.approx(0, abs=1e-9)  # whole contracts
            assert SPOT_PRICE <= float(spot["base_price"]) <= SPOT_PRICE + 1, spot
            assert float(spot["take_profit_price"]) < 61_000

            market(sandbox, {"basis": 0.025})  # perp 61,500 > its take profit; spot unmoved
            wait_until(lambda: bot(daemon, FUT)["closed_groups"] >= 1, 30, "perp take profit")
            assert float(bot(daemon, FUT)["realized_pnl"]) > 0
            state = http(f"{sandbox.mexc_url}/__sandbox/market?symbol={PAIR}")
            assert isinstance(state, dict)
            assert float(state["price"]) == SPOT_PRICE  # spot held the whole time
            assert bot(daemon, SPOT)["closed_groups"] == 0  # spot's take profit not reached
            audit = http(f"{sandbox.mexc_url}/__sandbox/orders?api_key={KEY}")
            assert isinstance(audit, dict)
            assert audit["orders"] == []  # paper: nothing reached the exchange
        finally:
            daemon.signal(signal.SIGTERM)
            daemon.wait(20)
            daemon.stop()
    finally:
        sandbox.stop()
