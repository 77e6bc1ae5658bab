"""The OKX connection test end to end: the real ccxt `okx` client against the sandbox's OKX
venue over HTTP (real HMAC over the bytes as received, OKX's real error bodies and statuses,
`"code":"0"` successes), a healthy key and every error class, each with its remedy and no
secret — key, secret or passphrase — anywhere in the report or the logs. The cases every
exchange shares run from venue_connection_cases with OKX's codes below.
"""

from __future__ import annotations

import ccxt
import pytest

from backfuture_daemon.configuration.models import Market, Policy
from backfuture_daemon.exchanges.classify import classify_error
from backfuture_daemon.exchanges.probes import ConnectionTester
from backfuture_daemon.health import ConnectionStatus
from backfuture_daemon.health import ErrorClass as E
from backfuture_daemon.health import StepStatus as S
from tests.integration.okx_support import CANARY, PASS_CANARY, OkxVenue
from tests.integration.venue_connection_cases import Case, ConnectionTestCases
from tests.integration.venue_support import assert_failed, assert_online, run, step, venue_fixture

pytestmark = pytest.mark.integration
venue = venue_fixture(OkxVenue)


class TestShared(ConnectionTestCases):
    case = Case(
        read_only=("read_only",),
        no_trade=("trade", "read_only"),
        withdraw="withdraw",
        unknown_key="00000000-0000-0000-0000-000000000000",
        unknown_key_says=("50111", "Invalid OK-ACCESS-KEY"),
        wrong_secret=f"{CANARY}-wrong",
        bad_signature_says=("50113", "Invalid signature"),
        ip_not_allowed_says=("50110", "127.0.0.1"),
        clock_ahead_ms=45_000,  # OKX's window: 30 s
        maintenance_says=("maintenance", "ongoing"),
        server_errors=((503, "503"), (500, "50026")),
        not_tradable_says=("DOGE/USDT", "'suspend'"),
        no_such_market_says="XYZ/USDT: no such spot market",
        # without account/config: an order of size 0 (51000 after the permission check;
        # 50120 without `trade`)
        key_endpoint="/api/v5/account/config",
        probe_path="/api/v5/trade/order",
        log_variants=({"api_secret": f"{CANARY}-wrong"}, {"passphrase": f"{PASS_CANARY}-wrong"}),
    )


async def test_healthy_key_online_markets_public_and_few_requests(
    tester: ConnectionTester, venue: OkxVenue
) -> None:
    report = await run(tester, venue)
    assert report.status is ConnectionStatus.ONLINE, report.to_dict()
    # load_markets made no private call (no asset/currencies): the SPOT and SWAP instruments.
    assert "/api/v5/asset/currencies" not in venue.counts()
    assert venue.counts()["/api/v5/public/instruments"] == 2, venue.counts()
    venue.reset_counts()
    report = await run(tester, venue)
    assert_online(report, venue)
    assert report.permissions == {"read": True, "trade": True, "futures": True, "withdraw": False}
    assert "trading account: USDT 1000 free" in step(report, "auth").reason
    assert "127.0.0.1" in step(report, "ip_whitelist").reason
    assert "read_only, trade" in step(report, "permissions").reason
    expiry = step(report, "key_expiry")
    assert expiry.status is S.PASS
    assert "bound to IPs" in expiry.reason


async def test_demo_trading_client_with_a_live_key(
    tester: ConnectionTester, venue: OkxVenue
) -> None:
    """A client in OKX demo-trading mode (`x-simulated-trading: 1`) with a live key: 50101."""
    k = venue.add_key()
    client = venue.ccxt_client(k)
    client.set_sandbox_mode(True)
    client.urls["api"] = {"rest": venue.url}
    try:
        with pytest.raises(ccxt.AuthenticationError, match="50101") as caught:
            await client.privateGetAccountBalance()
    finally:
        await client.close()
    c = classify_error(caught.value, "okx")
    assert c.error_class is E.INVALID_KEY
    assert "does not match current environment" in c.detail


async def test_wrong_passphrase(tester: ConnectionTester, venue: OkxVenue) -> None:
    report = await run(tester, venue, conn={"passphrase": f"{PASS_CANARY}-wrong"})
    assert_failed(report, "auth", E.INVALID_KEY, "50105", "PASSPHRASE")


async def test_clock_off_inside_okx_window_warns(tester: ConnectionTester, venue: OkxVenue) -> None:
    """20 s off is inside OKX's ±30 s window: requests still pass, the clock step warns."""
    venue.faults.clock_offset_ms = 20_000
    report = await run(tester, venue)
    assert report.status is ConnectionStatus.DEGRADED, report.to_dict()
    clock = step(report, "clock")
    assert (clock.status, clock.error_class) == (S.WARN, E.CLOCK_SKEW)
    assert "30 s" in clock.reason
    assert step(report, "auth").status is S.PASS


async def test_egress_ip_missing_from_whitelist(tester: ConnectionTester, venue: OkxVenue) -> None:
    """OKX shows the key's whole IP list: an egress IP missing from it fails the step, although
    this test's own address (127.0.0.1) is on it."""
    policy = Policy(egress_ips=("127.0.0.1", "203.0.113.10"))
    report = await run(tester, venue, policy=policy)
    assert_failed(report, "ip_whitelist", E.IP_NOT_ALLOWED, "203.0.113.10")


async def test_no_read_permission(tester: ConnectionTester, venue: OkxVenue) -> None:
    """A key without read_only is refused the balance with 50120 (no permission)."""
    report = await run(tester, venue, permissions=("trade",))
    assert_failed(report, "auth", E.NO_READ_PERMISSION, "50120")


async def test_maintenance_refuses_private_calls_with_50001(
    tester: ConnectionTester, venue: OkxVenue
) -> None:
    """Under maintenance the status endpoint says so; private calls answer 503 50001."""
    k = venue.add_key()
    client = venue.ccxt_client(k)
    venue.faults.maintenance = True
    try:
        with pytest.raises(ccxt.OnMaintenance) as caught:
            await client.privateGetAccountBalance()
    finally:
        await client.close()
    assert '"code":"50001"' in str(caught.value)


async def test_rate_limited(tester: ConnectionTester, venue: OkxVenue) -> None:
    venue.faults.rate_limit = True
    report = await run(tester, venue)
    assert_failed(report, "reachability", E.RATE_LIMITED, "50011", "Too Many Requests")
    assert report.transient
    # OKX sends no Retry-After (reference §2.4): nothing is invented.
    assert report.retry_after_seconds is None


async def test_account_blocked(tester: ConnectionTester, venue: OkxVenue) -> None:
    report = await run(tester, venue, frozen=True)
    assert_failed(report, "auth", E.ACCOUNT_SUSPENDED, "50007")


async def test_unbound_trade_key_degraded_with_deletion_warning(
    tester: ConnectionTester, venue: OkxVenue
) -> None:
    report = await run(tester, venue, ip_whitelist=())
    assert report.status is ConnectionStatus.DEGRADED, report.to_dict()
    assert report.error_classes == (E.IP_WHITELIST_MISSING, E.KEY_EXPIRING)
    expiry = step(report, "key_expiry")
    assert (expiry.status, expiry.error_class) == (S.WARN, E.KEY_EXPIRING)
    assert "14 days" in expiry.reason
    assert "⚠" in expiry.reason


async def test_futures_from_account_mode(tester: ConnectionTester, venue: OkxVenue) -> None:
    """Futures on OKX are the account mode, not a key permission: Spot mode (acctLv 1) makes
    a futures strategy fail with futures_unavailable; Spot and futures mode (2) passes, and the
    swap instruments come from the public list only."""
    report = await run(tester, venue, market=Market.FUTURES, acct_lv=1)
    assert_failed(report, "futures", E.FUTURES_UNAVAILABLE, "Spot mode", "acctLv 1")
    report = await run(tester, venue, market=Market.FUTURES, acct_lv=2)
    assert report.status is ConnectionStatus.ONLINE, report.to_dict()
    assert "Spot and futures mode" in step(report, "futures").reason
    assert "/api/v5/asset/currencies" not in venue.counts()
