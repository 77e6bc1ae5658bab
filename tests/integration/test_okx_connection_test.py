"""The OKX connection test end to end: the real ccxt `okx` client against the sandbox's OKX
venue over HTTP (real HMAC over the bytes as received, OKX's real error bodies and statuses,
`"code":"0"` successes), a healthy key and every error class, each with its remedy and no
secret — key, secret or passphrase — anywhere in the report or the logs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import ccxt
import pytest

from backfuture_daemon.configuration.models import Market, Policy
from backfuture_daemon.exchanges.classify import classify_error
from backfuture_daemon.exchanges.probes import ConnectionTester
from backfuture_daemon.health import REMEDIES, CheckStep, ConnectionReport, ConnectionStatus
from backfuture_daemon.health import ErrorClass as E
from backfuture_daemon.health import StepStatus as S
from tests.integration.connection_test_support import strategy
from tests.integration.okx_support import (
    CANARY,
    FULL,
    PASS_CANARY,
    OkxVenue,
    connection_for,
    okx_registered,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("okx_registered")]
__all__ = ["okx_registered"]
LOOPBACK = Policy(egress_ips=("127.0.0.1",))


@pytest.fixture
async def venue() -> AsyncIterator[OkxVenue]:
    v = OkxVenue()
    await v.start()
    try:
        yield v
    finally:
        await v.stop()


@pytest.fixture
async def tester() -> AsyncIterator[ConnectionTester]:
    t = ConnectionTester(timeout=2.0)
    yield t
    await t.close()


async def run(
    tester: ConnectionTester,
    venue: OkxVenue,
    *,
    pairs: tuple[str, ...] = ("BTC/USDT",),
    market: Market = Market.SPOT,
    policy: Policy = LOOPBACK,
    conn: dict[str, Any] | None = None,
    **key: Any,
) -> ConnectionReport:
    k = venue.add_key(**key)
    connection = connection_for(venue, k, **(conn or {}))
    report = await tester.test(connection, [strategy(connection, pairs, market)], policy)
    text = json.dumps(report.to_dict())
    for secret in (CANARY, PASS_CANARY, k.api_key):  # the key itself only masked
        assert secret not in text, text
    return report


def step(report: ConnectionReport, name: str) -> CheckStep:
    return next(s for s in report.steps if s.name == name)


def assert_failed(report: ConnectionReport, name: str, cls: E, *fragments: str) -> None:
    assert report.status is ConnectionStatus.FAILED, report.to_dict()
    found = step(report, name)
    assert (found.status, found.error_class) == (S.FAIL, cls), report.to_dict()
    for fragment in fragments:
        assert fragment in found.reason, found.reason
    assert cls in report.error_classes
    remedies = report.to_dict()["remedies"]
    assert isinstance(remedies, list)
    assert REMEDIES[cls] in remedies


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
    assert report.status is ConnectionStatus.ONLINE, report.to_dict()
    assert report.error_classes == ()
    assert report.permissions == {"read": True, "trade": True, "futures": True, "withdraw": False}
    assert sum(venue.counts().values()) <= 5, venue.counts()
    assert "trading account: USDT 1000 free" in step(report, "auth").reason
    assert report.ip_restricted is True
    assert "127.0.0.1" in step(report, "ip_whitelist").reason
    assert "read_only, trade" in step(report, "permissions").reason
    expiry = step(report, "key_expiry")
    assert expiry.status is S.PASS
    assert "bound to IPs" in expiry.reason
    assert report.clock_skew_ms is not None
    assert abs(report.clock_skew_ms) < 1000


async def test_invalid_key(tester: ConnectionTester, venue: OkxVenue) -> None:
    report = await run(tester, venue, conn={"api_key": "00000000-0000-0000-0000-000000000000"})
    assert_failed(report, "auth", E.INVALID_KEY, "50111", "Invalid OK-ACCESS-KEY")
    assert report.error_classes == (E.INVALID_KEY,)
    assert all(s.status is S.UNKNOWN for s in report.steps[3:]), report.to_dict()


async def test_demo_trading_client_with_a_live_key(
    tester: ConnectionTester, venue: OkxVenue
) -> None:
    """A client in OKX demo-trading mode (`x-simulated-trading: 1`) with a live key: 50101."""
    import ccxt.async_support as ccxt_async

    k = venue.add_key()
    client = ccxt_async.okx(
        {"apiKey": k.api_key, "secret": k.api_secret, "password": k.passphrase,
         "enableRateLimit": False, "timeout_on_exit": 0}
    )  # fmt: skip
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


async def test_bad_signature(tester: ConnectionTester, venue: OkxVenue) -> None:
    report = await run(tester, venue, conn={"api_secret": f"{CANARY}-wrong"})
    assert_failed(report, "auth", E.INVALID_KEY, "50113", "Invalid signature")


async def test_wrong_passphrase(tester: ConnectionTester, venue: OkxVenue) -> None:
    report = await run(tester, venue, conn={"passphrase": f"{PASS_CANARY}-wrong"})
    assert_failed(report, "auth", E.INVALID_KEY, "50105", "PASSPHRASE")


async def test_stale_timestamp(tester: ConnectionTester, venue: OkxVenue) -> None:
    """The venue's clock 45 s ahead: our timestamps fall outside OKX's 30 s window. The test
    reports clock_skew and signs the rest with the server's time, so the key is still checked."""
    venue.faults.clock_offset_ms = 45_000
    report = await run(tester, venue)
    assert_failed(report, "clock", E.CLOCK_SKEW, "behind")
    assert step(report, "auth").status is S.PASS
    assert report.error_classes == (E.CLOCK_SKEW,)


async def test_clock_off_inside_okx_window_warns(tester: ConnectionTester, venue: OkxVenue) -> None:
    """20 s off is inside OKX's ±30 s window: requests still pass, the clock step warns."""
    venue.faults.clock_offset_ms = 20_000
    report = await run(tester, venue)
    assert report.status is ConnectionStatus.DEGRADED, report.to_dict()
    clock = step(report, "clock")
    assert (clock.status, clock.error_class) == (S.WARN, E.CLOCK_SKEW)
    assert "30 s" in clock.reason
    assert step(report, "auth").status is S.PASS


async def test_ip_not_allowed(tester: ConnectionTester, venue: OkxVenue) -> None:
    report = await run(tester, venue, ip_whitelist=("10.9.8.7",))
    assert_failed(report, "auth", E.IP_NOT_ALLOWED, "50110", "127.0.0.1")
    assert report.error_classes == (E.IP_NOT_ALLOWED,)


async def test_egress_ip_missing_from_whitelist(tester: ConnectionTester, venue: OkxVenue) -> None:
    """OKX shows the key's whole IP list: an egress IP missing from it fails the step, although
    this test's own address (127.0.0.1) is on it."""
    policy = Policy(egress_ips=("127.0.0.1", "203.0.113.10"))
    report = await run(tester, venue, policy=policy)
    assert_failed(report, "ip_whitelist", E.IP_NOT_ALLOWED, "203.0.113.10")


async def test_no_trade_permission(tester: ConnectionTester, venue: OkxVenue) -> None:
    report = await run(tester, venue, permissions=("read_only",))
    assert_failed(report, "permissions", E.NO_TRADE_PERMISSION, "trade", "read_only")
    assert report.permissions["trade"] is False


async def test_no_read_permission(tester: ConnectionTester, venue: OkxVenue) -> None:
    """A key without read_only is refused the balance with 50120 (no permission)."""
    report = await run(tester, venue, permissions=("trade",))
    assert_failed(report, "auth", E.NO_READ_PERMISSION, "50120")


async def test_withdraw_enabled_always_fails(tester: ConnectionTester, venue: OkxVenue) -> None:
    report = await run(tester, venue, permissions=(*FULL, "withdraw"))
    assert_failed(report, "withdraw", E.WITHDRAW_ENABLED)
    assert report.error_classes[0] is E.WITHDRAW_ENABLED
    assert report.permissions["withdraw"] is True
    assert not report.healthy


async def test_exchange_unavailable_maintenance_and_5xx(
    tester: ConnectionTester, venue: OkxVenue
) -> None:
    venue.faults.maintenance = True
    report = await run(tester, venue)
    assert_failed(report, "reachability", E.EXCHANGE_UNAVAILABLE, "maintenance", "ongoing")
    venue.faults.maintenance = False
    for status, fragment in ((503, "503"), (500, "50026")):
        venue.faults.http_5xx = status
        report = await run(tester, venue)
        assert_failed(report, "reachability", E.EXCHANGE_UNAVAILABLE, fragment)
        assert report.transient


async def test_maintenance_refuses_private_calls_with_50001(
    tester: ConnectionTester, venue: OkxVenue
) -> None:
    """Under maintenance the status endpoint says so; private calls answer 503 50001."""
    import ccxt
    import ccxt.async_support as ccxt_async

    k = venue.add_key()
    client = ccxt_async.okx(
        {"apiKey": k.api_key, "secret": k.api_secret, "password": k.passphrase,
         "enableRateLimit": False, "timeout_on_exit": 0, "urls": {"api": {"rest": venue.url}}}
    )  # fmt: skip
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
    strict = Policy(egress_ips=("127.0.0.1",), require_ip_whitelist=True)
    report = await run(tester, venue, ip_whitelist=(), policy=strict)
    assert_failed(report, "ip_whitelist", E.IP_WHITELIST_MISSING)


async def test_pair_listed_but_not_api_tradable(tester: ConnectionTester, venue: OkxVenue) -> None:
    report = await run(tester, venue, pairs=("BTC/USDT", "DOGE/USDT", "XYZ/USDT"))
    assert_failed(report, "pairs", E.PAIR_NOT_TRADABLE, "DOGE/USDT", "'suspend'")
    assert "XYZ/USDT: no such spot market" in step(report, "pairs").reason


async def test_futures_from_account_mode(tester: ConnectionTester, venue: OkxVenue) -> None:
    """Futures on OKX are the account mode, not a key permission: Spot mode (acctLv 1) makes
    a futures strategy fail with futures_unavailable; Spot and futures mode (2) passes, and the
    swap instruments come from the public list only."""
    report = await run(tester, venue, market=Market.FUTURES, account_level="1")
    assert_failed(report, "futures", E.FUTURES_UNAVAILABLE, "Spot mode", "acctLv 1")
    report = await run(tester, venue, market=Market.FUTURES, account_level="2")
    assert report.status is ConnectionStatus.ONLINE, report.to_dict()
    assert "Spot and futures mode" in step(report, "futures").reason
    assert "/api/v5/asset/currencies" not in venue.counts()


async def test_probe_fallback_without_the_key_config_endpoint(tester: ConnectionTester) -> None:
    """A deployment without account/config (404): trade is proven with an order that can never
    be placed (size 0: 51000 after the permission check; 50120 without `trade`); withdrawal
    then cannot be read and the step says so — never guessed healthy."""
    bare = OkxVenue(without=frozenset({"/api/v5/account/config"}))
    await bare.start()
    try:
        report = await run(tester, bare)
        permissions = step(report, "permissions")
        assert permissions.status is S.PASS, report.to_dict()
        assert "test order" in permissions.reason
        assert step(report, "withdraw").status is S.UNKNOWN
        assert report.status is ConnectionStatus.DEGRADED, report.to_dict()
        assert bare.counts()["/api/v5/trade/order"] == 1
        report = await run(tester, bare, permissions=("read_only",))
        assert_failed(report, "permissions", E.NO_TRADE_PERMISSION)
        for k in bare.keys:  # the probe never placed an order
            acct = bare.venue.engine.find_account("okx", k.api_key)
            assert acct is None or not acct.orders
    finally:
        await bare.stop()


async def test_no_secret_in_logs(
    tester: ConnectionTester, venue: OkxVenue, caplog: pytest.LogCaptureFixture
) -> None:
    """With the root logger at DEBUG (ccxt would log every request's OK-ACCESS-* headers
    there), failing tests leave neither secret, passphrase nor key in any log line."""
    caplog.set_level(logging.DEBUG)
    k = venue.add_key(ip_whitelist=("10.9.8.7",))
    for conn in (
        connection_for(venue, k),
        connection_for(venue, k, api_secret=f"{CANARY}-wrong"),
        connection_for(venue, k, passphrase=f"{PASS_CANARY}-wrong"),
    ):
        report = await tester.test(conn, [strategy(conn, ("BTC/USDT",))], LOOPBACK)
        assert report.status is ConnectionStatus.FAILED
    for secret in (CANARY, PASS_CANARY, k.api_key):
        assert secret not in caplog.text
