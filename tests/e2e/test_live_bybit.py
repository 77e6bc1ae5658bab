"""End to end, live on Bybit in `backfuture run` (real daemon and sandbox processes): a `mode: live`
strategy on a Bybit connection passes its connection test, sends its base order while the venue
swallows accepted orders' answers (accept_then_timeout: the order is adopted by its orderLinkId,
never placed twice), adds as the price falls and closes its group at take profit. The sandbox's
audit (`GET /__sandbox/orders` on the Bybit port) shows exactly one exchange order per client
order id, every one the bot's; no secret (canary key and secret) in the DEBUG logs, /status or
/metrics.
"""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.live_futures_support import VenueSandbox
from tests.helpers.paperbots import paper_strategy
from tests.helpers.processes import ConfigRepo, DaemonProc, wait_until

pytestmark = pytest.mark.e2e
CONN, BOT = "Bybit Live", "BTC Live Bybit"
API_KEY = "BYBITe2eCANARYk0001"
API_SECRET = "CANARY-bybit-e2e-secret-0001-abcdef"
TICK_ENV = {"BACKFUTURE_BOTS_TICK_SECONDS": "0.2"}


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[VenueSandbox]:
    key = {"api_key": API_KEY, "api_secret": API_SECRET, "permissions": ["Spot.SpotTrade"]}
    sb = VenueSandbox(tmp_path / "sandbox", "bybit", key, admin="bybit")
    yield sb
    sb.stop()


def orders(sandbox: VenueSandbox) -> list[dict[str, Any]]:
    return list(sandbox.account()["orders"])


def bot_entry(daemon: DaemonProc) -> dict[str, Any] | None:
    return next((b for b in daemon.status()["bots"] if b["strategy"] == BOT), None)


def group_has(daemon: DaemonProc, field: str, check: Callable[[Any], bool]) -> bool | None:
    """The running bot's first group has `field` passing `check` (None: not yet)."""
    entry = bot_entry(daemon)
    if entry is None or entry.get("gate") != "run" or not entry.get("groups"):
        return None
    return check(entry["groups"][0][field]) or None


def closed_groups(daemon: DaemonProc) -> int:
    entry = bot_entry(daemon)
    return int(entry["closed_groups"]) if entry else 0


def test_a_live_bot_trades_on_bybit_one_exchange_order_per_client_id(
    sandbox: VenueSandbox, tmp_path: Path
) -> None:
    sandbox.market(price=100.0)
    sandbox.faults(accept_then_timeout=True, hang_seconds=2)  # the first order's answer is lost
    strategy = {**paper_strategy(BOT, CONN), "mode": "live", "margin_limit": 100}
    connection = {"name": CONN, "exchange": "bybit", "api_key": API_KEY, "api_secret": API_SECRET,
                  "endpoints": {"spot": sandbox.url("bybit")}}  # fmt: skip
    repo = ConfigRepo(tmp_path / "repo", {"main.yaml": {
        "version": 1, "policy": {"egress_ips": ["127.0.0.1"]},
        "connections": [connection], "strategies": [strategy]}})  # fmt: skip
    env = TICK_ENV | {"BACKFUTURE_LOG_LEVEL": "DEBUG", "BACKFUTURE_LOG_FORMAT": "json"}
    daemon = DaemonProc(repo.path, tmp_path, repo.key_file, extra_env=env)
    try:
        wait_until(lambda: daemon.connection(CONN).get("status") == "online" or None, 30,
                   "the Bybit connection online")  # fmt: skip
        first = wait_until(lambda: orders(sandbox) or None, 30, "the base order at Bybit")
        assert len(first) == 1
        sandbox.faults(accept_then_timeout=False)
        wait_until(lambda: group_has(daemon, "base_price", lambda v: v is not None), 30,
                   "the adopted base order filled")  # fmt: skip
        sandbox.market(path=[[0, 100], [0.5, 98]])  # add 1 (~98.5) fills
        wait_until(lambda: group_has(daemon, "filled_adds", lambda v: v == 1), 30, "add 1")
        sandbox.market(path=[[0, 98], [0.5, 103]])  # through the take profit
        wait_until(lambda: closed_groups(daemon) >= 1 or None, 30, "the take profit filled")
        entry = bot_entry(daemon)
        assert entry is not None
        assert float(entry["realized_pnl"]) > 0
        surfaces = {"status": str(daemon.get("/status")), "metrics": daemon.metrics()}
    finally:
        daemon.signal(signal.SIGTERM)
        daemon.wait(20)
        daemon.stop()

    audit = orders(sandbox)
    ids = Counter(str(o["client_order_id"]) for o in audit)
    assert max(ids.values()) == 1, ids  # one exchange order per orderLinkId
    assert all(cid.startswith("bf") for cid in ids)
    assert first[0]["client_order_id"] in ids
    statuses = Counter((o["side"], o["status"]) for o in audit)
    assert statuses[("buy", "filled")] >= 2  # base and add 1
    assert statuses[("sell", "filled")] >= 1  # the take profit
    assert all(o["instrument_id"] == "BTCUSDT" for o in audit)
    surfaces["logs"] = daemon.output()
    assert '"level": "DEBUG"' in surfaces["logs"]
    for where, text in surfaces.items():
        for secret in (API_KEY, API_SECRET):
            assert secret not in text, f"a secret leaked into {where}"
