"""End to end, live futures in `backfuture run` (real daemon and sandbox processes) on every
futures venue (KuCoin, Binance USDⓈ-M, OKX swap, Bybit linear; live_futures_support.py): a
`mode: live, market: futures, leverage: 3` strategy on a connection whose test passed opens a
long, adds as the price falls and closes at take profit. The sandbox's audit shows futures orders
only on the venue's contract, one per client order id (the venue's rule for ids), the position
at leverage 3 holding what the bot holds; the key, secret (and passphrase) appear in no log,
/status or /metrics.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.live_futures_support import (
    BYBIT,
    VENUES,
    FuturesSandbox,
    LiveFuturesVenue,
    bot,
    config,
    no_secret_in,
    position_is_the_books,
    stopped,
    trade_a_long,
)
from tests.helpers.processes import DaemonProc, wait_until

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("venue", VENUES, ids=str)
def test_a_live_futures_long_trades_with_one_order_per_client_id_and_shows_no_secret(
    tmp_path: Path, venue: LiveFuturesVenue
) -> None:
    sandbox = FuturesSandbox(tmp_path / "sandbox", venue)
    try:
        sandbox.market(price=60000.0)
        if venue is BYBIT:
            sandbox.bybit_isolate()  # the owner's one-time setting on Bybit
        repo = config(tmp_path, sandbox)
        daemon = DaemonProc(repo.path, tmp_path, repo.key_file, extra_env=venue.env)
        try:
            trade_a_long(daemon, sandbox)
            assert bot(daemon, venue.bot)["last_error"] == ""
            time.sleep(0.5)

            orders = sandbox.account()["orders"]
            ids = Counter(str(o["client_order_id"]) for o in orders)
            assert ids
            assert max(ids.values()) == 1, ids  # never two exchange orders for one client id
            assert all(venue.client_id.match(cid) for cid in ids), ids
            assert {(o["market"], o["instrument_id"]) for o in orders} == {
                ("futures", venue.instrument_id)
            }
            sides = Counter((o["side"], o["status"]) for o in orders)
            assert sides[("buy", "filled")] >= 3  # base, add 1, add 2
            assert sides[("sell", "filled")] >= 1  # the take profit
            assert [p["leverage"] for p in sandbox.account()["positions"]] == ["3"]
            wait_until(lambda: position_is_the_books(sandbox, daemon), 10,
                       "the position is what the bot holds")  # fmt: skip
            status, metrics = repr(daemon.status()), daemon.metrics()
            limit = [
                line
                for line in metrics.splitlines()
                if line.startswith("backfuture_bot_margin_limit_quote{") and venue.bot in line
            ]
            assert len(limit) == 1
            assert limit[0].endswith(" 1000.0")
        finally:
            assert stopped(daemon) == 0
        logs = daemon.output()
        assert "bot fill" in logs
        assert venue.log_marker in logs
        if venue.own_market_data:  # it decides on the perpetual's own prices
            assert "no futures market data" not in logs
        no_secret_in(venue, {"logs": logs, "status": status, "metrics": metrics})
    finally:
        sandbox.stop()
