"""The Binance connection test end to end: the real ccxt `binance` client against the sandbox's
Binance venue over HTTP (real HMAC over the bytes as received, Binance's real error bodies and
statuses), a healthy key and every error class, each with its remedy and no secret anywhere.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async
import pytest

from backfuture_daemon.configuration.models import Policy
from backfuture_daemon.exchanges import probes
from backfuture_daemon.exchanges.probes import ConnectionTester
from backfuture_daemon.health import REMEDIES, CheckStep, ConnectionReport, ConnectionStatus
from backfuture_daemon.health import ErrorClass as E
from backfuture_daemon.health import StepStatus as S
from tests.integration.binance_support import (
    CANARY,
    BinanceVenue,
    binance_registered,
    connection_for,
)
from tests.integration.connection_test_support import strategy

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("binance_registered")]
__all__ = ["binance_registered"]
LOOPBACK = Policy(egress_ips=("127.0.0.1",))


@pytest.fixture
async def venue() -> AsyncIterator[BinanceVenue]:
    v = BinanceVenue()
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
    venue: BinanceVenue,
    *,
    pairs: tuple[str, ...] = ("BTC/USDT",),
    policy: Policy = LOOPBACK,
    conn: dict[str, Any] | None = None,
    **key: Any,
) -> ConnectionReport:
    k = venue.add_key(**key)
    connection = connection_for(venue, k, **(conn or {}))
    report = await tester.test(connection, [strategy(connection, pairs)], policy)
    text = json.dumps(report.to_dict())
    assert CANARY not in text, text  # no secret in any report
    assert k.api_key not in text, text  # the key itself only masked
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


async def test_healthy_key_online_markets_public_and_five_requests(
    tester: ConnectionTester, venue: BinanceVenue
) -> None:
    report = await run(tester, venue)
    assert report.status is ConnectionStatus.ONLINE, report.to_dict()
    # load_markets made no private call: the one market request is the public exchangeInfo.
    market_paths = {p for p in venue.counts() if "exchangeInfo" in p or "sapi/v1/margin" in p}
    assert market_paths == {"/api/v3/exchangeInfo"}, venue.counts()
    assert "/sapi/v1/capital/config/getall" not in venue.counts()
    venue.reset_counts()
    report = await run(tester, venue)
    assert report.status is ConnectionStatus.ONLINE, report.to_dict()
    assert report.error_classes == ()
    assert report.permissions == {"read": True, "trade": True, "futures": False, "withdraw": False}
    assert sum(venue.counts().values()) <= 5, venue.counts()
    assert "USDT 1000 free" in step(report, "auth").reason
    # None until probes.py carries its registration line (it then reads Binance's flag)
    assert report.ip_restricted is (True if hasattr(probes, "BinanceKeyInfo") else None)
    ip = step(report, "ip_whitelist")
    assert ip.status is S.PASS
    assert "restricted yes/no" in ip.reason
    assert "enableSpotAndMarginTrading" in step(report, "permissions").reason
    assert report.clock_skew_ms is not None
    assert abs(report.clock_skew_ms) < 1000


async def test_invalid_key_unknown_and_malformed(
    tester: ConnectionTester, venue: BinanceVenue
) -> None:
    unknown = "A" * 64
    report = await run(tester, venue, conn={"api_key": unknown})
    assert_failed(report, "auth", E.INVALID_KEY, "-2008", "Invalid Api-Key ID")
    assert report.error_classes == (E.INVALID_KEY,)
    assert all(s.status is S.UNKNOWN for s in report.steps[3:]), report.to_dict()
    report = await run(tester, venue, conn={"api_key": "not-a-binance-key"})
    assert_failed(report, "auth", E.INVALID_KEY, "-2014", "API-key format invalid")


async def test_bad_signature(tester: ConnectionTester, venue: BinanceVenue) -> None:
    report = await run(tester, venue, conn={"api_secret": f"{CANARY}-wrong"})
    assert_failed(report, "auth", E.INVALID_KEY, "-1022", "Signature for this request")


async def test_stale_timestamp(tester: ConnectionTester, venue: BinanceVenue) -> None:
    """The venue's clock 8 s ahead: our timestamps fall outside the 5 s recvWindow. The test
    reports clock_skew and signs the rest with the server's time, so the key is still checked."""
    venue.faults.clock_offset_ms = 8000
    report = await run(tester, venue)
    assert_failed(report, "clock", E.CLOCK_SKEW, "behind")
    assert step(report, "auth").status is S.PASS
    assert report.error_classes == (E.CLOCK_SKEW,)


async def test_ip_not_allowed(tester: ConnectionTester, venue: BinanceVenue) -> None:
    report = await run(tester, venue, ip_whitelist=("10.9.8.7",))
    assert_failed(report, "auth", E.IP_NOT_ALLOWED, "-2015")
    assert report.error_classes == (E.IP_NOT_ALLOWED,)


async def test_no_trade_permission(tester: ConnectionTester, venue: BinanceVenue) -> None:
    report = await run(tester, venue, permissions=("enableReading",))
    assert_failed(report, "permissions", E.NO_TRADE_PERMISSION, "trade")
    assert report.permissions["trade"] is False


async def test_withdraw_enabled_always_fails(tester: ConnectionTester, venue: BinanceVenue) -> None:
    report = await run(tester, venue, permissions=(*FULL_PERMS, "enableWithdrawals"))
    assert_failed(report, "withdraw", E.WITHDRAW_ENABLED)
    assert report.error_classes[0] is E.WITHDRAW_ENABLED
    assert report.permissions["withdraw"] is True
    assert not report.healthy


async def test_exchange_unavailable_maintenance_and_5xx(
    tester: ConnectionTester, venue: BinanceVenue
) -> None:
    venue.faults.maintenance = True
    report = await run(tester, venue)
    assert_failed(report, "reachability", E.EXCHANGE_UNAVAILABLE, "system_maintenance")
    venue.faults.maintenance = False
    venue.faults.http_5xx = 502
    report = await run(tester, venue)
    assert_failed(report, "reachability", E.EXCHANGE_UNAVAILABLE, "502")
    assert report.transient


async def test_rate_limited_reports_retry_after(
    tester: ConnectionTester, venue: BinanceVenue
) -> None:
    venue.faults.rate_limit = True
    venue.faults.retry_after_s = 7
    report = await run(tester, venue)
    assert_failed(report, "reachability", E.RATE_LIMITED, "-1003", "retry after 7 s")
    assert report.retry_after_seconds == 7


async def test_unrestricted_key_degraded_then_expiring(
    tester: ConnectionTester, venue: BinanceVenue
) -> None:
    report = await run(tester, venue, ip_whitelist=())
    assert report.status is ConnectionStatus.DEGRADED, report.to_dict()
    assert report.error_classes == (E.IP_WHITELIST_MISSING,)
    assert "30 days" in step(report, "ip_whitelist").reason
    assert step(report, "key_expiry").status is S.PASS  # 30 days left
    report = await run(tester, venue, ip_whitelist=(), age_days=25)
    assert report.status is ConnectionStatus.DEGRADED, report.to_dict()
    expiry = step(report, "key_expiry")
    assert (expiry.status, expiry.error_class) == (S.WARN, E.KEY_EXPIRING)
    assert report.key_expiry_timestamp is not None
    strict = Policy(egress_ips=("127.0.0.1",), require_ip_whitelist=True)
    report = await run(tester, venue, ip_whitelist=(), policy=strict)
    assert_failed(report, "ip_whitelist", E.IP_WHITELIST_MISSING)


async def test_trading_lapsed_after_30_days_without_ip_restriction(
    tester: ConnectionTester, venue: BinanceVenue
) -> None:
    report = await run(tester, venue, ip_whitelist=(), age_days=31)
    assert_failed(report, "permissions", E.NO_TRADE_PERMISSION, "expired")


async def test_pair_listed_but_not_api_tradable(
    tester: ConnectionTester, venue: BinanceVenue
) -> None:
    report = await run(tester, venue, pairs=("BTC/USDT", "DOGE/USDT", "XYZ/USDT"))
    assert_failed(report, "pairs", E.PAIR_NOT_TRADABLE, "DOGE/USDT", "isSpotTradingAllowed")
    assert "XYZ/USDT: no such spot market" in step(report, "pairs").reason


FULL_PERMS = ("enableReading", "enableSpotAndMarginTrading")


async def test_probe_fallback_without_the_key_endpoint(tester: ConnectionTester) -> None:
    """A deployment that does not serve apiRestrictions (404): trade is proven with
    POST /api/v3/order/test instead; withdrawal then cannot be read and the step says so."""
    bare = BinanceVenue(without=frozenset({"/sapi/v1/account/apiRestrictions"}))
    await bare.start()
    try:
        report = await run(tester, bare)
        permissions = step(report, "permissions")
        assert permissions.status is S.PASS, report.to_dict()
        assert "test order" in permissions.reason
        assert step(report, "withdraw").status is S.UNKNOWN
        assert report.status is ConnectionStatus.DEGRADED
        assert "/api/v3/order/test" in bare.counts()
        report = await run(tester, bare, permissions=("enableReading",))
        assert_failed(report, "permissions", E.NO_TRADE_PERMISSION)
    finally:
        await bare.stop()


async def test_ip_banned_after_ignoring_429s(tester: ConnectionTester, venue: BinanceVenue) -> None:
    """Calling on inside a 429's Retry-After gets the IP banned: HTTP 418, code -1003, a
    Retry-After of minutes, and the ban outlasts the rate limit (Binance LIMITS)."""
    venue.faults.rate_limit = True
    venue.faults.retry_after_s = 30
    client = ccxt_async.binance(
        {"enableRateLimit": False, "timeout_on_exit": 0,
         "urls": {"api": {"public": f"{venue.url}/api/v3"}}}
    )  # fmt: skip
    statuses = []
    try:
        for _ in range(5):
            with pytest.raises(ccxt.DDoSProtection) as caught:
                await client.publicGetTime()
            statuses.append(str(caught.value).split()[1])
    finally:
        await client.close()
    assert statuses == ["429", "429", "429", "429", "418"]
    venue.faults.rate_limit = False
    report = await run(tester, venue)
    assert_failed(report, "reachability", E.RATE_LIMITED, "-1003", "IP banned until")
    assert report.retry_after_seconds is not None
    assert report.retry_after_seconds >= 60


async def test_no_secret_in_logs(
    tester: ConnectionTester, venue: BinanceVenue, caplog: pytest.LogCaptureFixture
) -> None:
    """With the root logger at DEBUG (ccxt would log every request's X-MBX-APIKEY header and
    signed URL there), failing tests leave neither the secret nor the key in any log line."""
    caplog.set_level(logging.DEBUG)
    k = venue.add_key(ip_whitelist=("10.9.8.7",))
    for conn in (
        connection_for(venue, k),
        connection_for(venue, k, api_secret=f"{CANARY}-wrong"),
        connection_for(venue, k, api_key="C" * 64),
    ):
        report = await tester.test(conn, [strategy(conn, ("BTC/USDT",))], LOOPBACK)
        assert report.status is ConnectionStatus.FAILED
    assert CANARY not in caplog.text
    assert k.api_key not in caplog.text
