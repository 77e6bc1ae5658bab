"""The Bybit connection test end to end: the real ccxt `bybit` client against the sandbox's Bybit
venue over HTTP (real HMAC over the bytes as received, Bybit's HTTP 200 + retCode error bodies),
a healthy key and every error class, each with its remedy and no secret anywhere.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from backfuture_daemon.configuration.models import Policy
from backfuture_daemon.exchanges.probes import ConnectionTester
from backfuture_daemon.health import REMEDIES, CheckStep, ConnectionReport, ConnectionStatus
from backfuture_daemon.health import ErrorClass as E
from backfuture_daemon.health import StepStatus as S
from backfuture_daemon.sandbox.engine import Order
from tests.integration.bybit_support import (
    CANARY,
    FULL,
    FUTURES,
    BybitVenue,
    bybit_registered,
    connection_for,
)
from tests.integration.connection_test_support import strategy

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("bybit_registered")]
__all__ = ["bybit_registered"]
LOOPBACK = Policy(egress_ips=("127.0.0.1",))


@pytest.fixture
async def venue() -> AsyncIterator[BybitVenue]:
    v = BybitVenue()
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
    venue: BybitVenue,
    *,
    pairs: tuple[str, ...] = ("BTC/USDT",),
    market: str = "spot",
    policy: Policy = LOOPBACK,
    conn: dict[str, Any] | None = None,
    **key: Any,
) -> ConnectionReport:
    k = venue.add_key(**key)
    connection = connection_for(venue, k, **(conn or {}))
    report = await tester.test(connection, [strategy(connection, pairs, market)], policy)
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
    tester: ConnectionTester, venue: BybitVenue
) -> None:
    report = await run(tester, venue)
    assert report.status is ConnectionStatus.ONLINE, report.to_dict()
    # load_markets made no private call: only the public instruments-info (spot, linear and
    # linear PreLaunch), never /v5/asset/coin/query-info.
    assert venue.counts()["/v5/market/instruments-info"] == 3, venue.counts()
    assert "/v5/asset/coin/query-info" not in venue.counts()
    venue.reset_counts()
    report = await run(tester, venue)
    assert report.status is ConnectionStatus.ONLINE, report.to_dict()
    assert report.error_classes == ()
    assert report.permissions == {"read": True, "trade": True, "futures": False, "withdraw": False}
    assert sum(venue.counts().values()) <= 5, venue.counts()
    assert "unified account: USDT 1000 free" in step(report, "auth").reason
    assert report.ip_restricted is True
    assert "127.0.0.1" in step(report, "ip_whitelist").reason
    assert "Spot.SpotTrade" in step(report, "permissions").reason
    assert step(report, "key_expiry").reason == "the exchange reports no expiry for this key"
    assert report.clock_skew_ms is not None
    assert abs(report.clock_skew_ms) < 1000


async def test_invalid_key(tester: ConnectionTester, venue: BybitVenue) -> None:
    report = await run(tester, venue, conn={"api_key": "XXXXXXXXXXXXXXXXXX"})
    assert_failed(report, "auth", E.INVALID_KEY, "10003", "API key is invalid")
    assert report.error_classes == (E.INVALID_KEY,)
    assert all(s.status is S.UNKNOWN for s in report.steps[3:]), report.to_dict()


async def test_bad_signature_quotes_no_key(tester: ConnectionTester, venue: BybitVenue) -> None:
    """Bybit's 10004 text quotes the signed string, API key included: the report redacts it."""
    report = await run(tester, venue, conn={"api_secret": f"{CANARY}-wrong-secret"})
    assert_failed(report, "auth", E.INVALID_KEY, "10004", "error sign!")


async def test_stale_timestamp(tester: ConnectionTester, venue: BybitVenue) -> None:
    """The venue's clock 8 s ahead: our timestamps fall outside the 5 s recv_window. The test
    reports clock_skew and signs the rest with the server's time, so the key is still checked."""
    venue.faults.clock_offset_ms = 8000
    report = await run(tester, venue)
    assert_failed(report, "clock", E.CLOCK_SKEW, "behind")
    assert step(report, "auth").status is S.PASS
    assert report.error_classes == (E.CLOCK_SKEW,)


async def test_ip_not_allowed(tester: ConnectionTester, venue: BybitVenue) -> None:
    report = await run(tester, venue, ip_whitelist=("10.9.8.7",))
    assert_failed(report, "auth", E.IP_NOT_ALLOWED, "10010", "Unmatched IP")
    assert report.error_classes == (E.IP_NOT_ALLOWED,)


async def test_read_only_key_has_no_trade_permission(
    tester: ConnectionTester, venue: BybitVenue
) -> None:
    report = await run(tester, venue, permissions=("Exchange.ExchangeHistory",))
    assert_failed(report, "permissions", E.NO_TRADE_PERMISSION, "trade", "readOnly")
    assert report.permissions["trade"] is False
    assert step(report, "auth").status is S.PASS  # a read-only key reads


async def test_withdraw_enabled_always_fails(tester: ConnectionTester, venue: BybitVenue) -> None:
    report = await run(tester, venue, permissions=(*FULL, "Wallet.Withdraw"))
    assert_failed(report, "withdraw", E.WITHDRAW_ENABLED)
    assert report.error_classes[0] is E.WITHDRAW_ENABLED
    assert report.permissions["withdraw"] is True
    assert not report.healthy


async def test_internal_transfer_only_warns(tester: ConnectionTester, venue: BybitVenue) -> None:
    report = await run(tester, venue, permissions=(*FULL, "Wallet.AccountTransfer"))
    assert report.status is ConnectionStatus.DEGRADED, report.to_dict()
    withdraw = step(report, "withdraw")
    assert withdraw.status is S.WARN
    assert "Wallet.AccountTransfer" in withdraw.reason


async def test_exchange_unavailable_maintenance_and_5xx(
    tester: ConnectionTester, venue: BybitVenue
) -> None:
    venue.faults.maintenance = True
    report = await run(tester, venue)
    assert_failed(report, "reachability", E.EXCHANGE_UNAVAILABLE, "maintenance", "ongoing")
    assert report.transient
    venue.faults.maintenance = False
    venue.faults.http_5xx = 502
    report = await run(tester, venue)
    assert_failed(report, "reachability", E.EXCHANGE_UNAVAILABLE, "502")
    assert report.transient


async def test_rate_limited_uid_limit_reports_reset(
    tester: ConnectionTester, venue: BybitVenue
) -> None:
    """UID limit: retCode 10006 "Too many visits!" (HTTP 200) with X-Bapi-Limit-Reset-Timestamp;
    Bybit sends no Retry-After, so the wait comes from the reset time."""
    venue.faults.rate_limit = True
    venue.faults.retry_after_s = 7
    report = await run(tester, venue)
    assert_failed(report, "auth", E.RATE_LIMITED, "10006", "Too many visits")
    assert report.retry_after_seconds is not None
    assert 5 <= report.retry_after_seconds <= 7
    assert report.transient


async def test_rate_limited_ip_limit_bare_403(tester: ConnectionTester, venue: BybitVenue) -> None:
    """IP limit: Bybit's edge answers a bare HTTP 403 (ccxt: RateLimitExceeded), not a retCode."""
    k = venue.add_key()
    connection = connection_for(venue, k)
    venue.faults.rate_limit_per_s = 1
    report = await tester.test(connection, [strategy(connection, ("BTC/USDT",))], LOOPBACK)
    assert report.status is ConnectionStatus.FAILED, report.to_dict()
    failed = next(s for s in report.steps if s.status is S.FAIL)
    assert failed.error_class is E.RATE_LIMITED, report.to_dict()
    assert "403" in failed.reason


async def test_unbound_key_degraded_then_expiring_then_expired(
    tester: ConnectionTester, venue: BybitVenue
) -> None:
    report = await run(tester, venue, ip_whitelist=())
    assert report.status is ConnectionStatus.DEGRADED, report.to_dict()
    assert report.error_classes == (E.IP_WHITELIST_MISSING,)
    assert report.ip_restricted is False
    expiry = step(report, "key_expiry")
    assert expiry.status is S.PASS
    assert "expires in 90 days" in expiry.reason
    report = await run(tester, venue, ip_whitelist=(), age_days=80)
    expiry = step(report, "key_expiry")
    assert (expiry.status, expiry.error_class) == (S.WARN, E.KEY_EXPIRING), report.to_dict()
    assert report.key_expiry_timestamp is not None
    assert report.status is ConnectionStatus.DEGRADED
    report = await run(tester, venue, ip_whitelist=(), age_days=91)
    assert_failed(report, "auth", E.INVALID_KEY, "33004", "expired")
    strict = Policy(egress_ips=("127.0.0.1",), require_ip_whitelist=True)
    report = await run(tester, venue, ip_whitelist=(), policy=strict)
    assert_failed(report, "ip_whitelist", E.IP_WHITELIST_MISSING)


async def test_pair_listed_but_not_trading(tester: ConnectionTester, venue: BybitVenue) -> None:
    report = await run(tester, venue, pairs=("BTC/USDT", "DOGE/USDT", "XYZ/USDT"))
    assert_failed(report, "pairs", E.PAIR_NOT_TRADABLE, "DOGE/USDT: spot market not active")
    assert "XYZ/USDT: no such spot market on Bybit" in step(report, "pairs").reason


async def test_linear_perpetuals(tester: ConnectionTester, venue: BybitVenue) -> None:
    report = await run(tester, venue, market="futures", permissions=(*FULL, *FUTURES))
    assert report.status is ConnectionStatus.ONLINE, report.to_dict()
    assert "unified trading account" in step(report, "futures").reason
    assert report.permissions["futures"] is True
    report = await run(tester, venue, market="futures", pairs=("SOL/USDT",), permissions=FUTURES)
    assert_failed(report, "pairs", E.PAIR_NOT_TRADABLE, "no such USDT perpetual")
    report = await run(tester, venue, market="futures")
    assert_failed(report, "futures", E.NO_FUTURES_PERMISSION)


async def test_probe_fallback_without_the_key_endpoint(tester: ConnectionTester) -> None:
    """A deployment that does not serve query-api (404): trade is proven with a spot order far
    below the minimum (refused by a business rule after the permission check)."""
    bare = BybitVenue(without=frozenset({"/v5/user/query-api"}))
    await bare.start()
    try:
        report = await run(tester, bare)
        permissions = step(report, "permissions")
        assert permissions.status is S.PASS, report.to_dict()
        assert "test order" in permissions.reason
        assert step(report, "withdraw").status is S.UNKNOWN
        assert report.status is ConnectionStatus.DEGRADED
        assert "/v5/order/create" in bare.counts()
        report = await run(tester, bare, permissions=("Exchange.ExchangeHistory",))
        assert_failed(report, "permissions", E.NO_TRADE_PERMISSION)
    finally:
        await bare.stop()


async def test_no_secret_in_logs(
    tester: ConnectionTester, venue: BybitVenue, caplog: pytest.LogCaptureFixture
) -> None:
    """With the root logger at DEBUG (ccxt would log every request's X-BAPI-API-KEY header
    there), failing tests leave neither the secret nor the key in any log line."""
    caplog.set_level(logging.DEBUG)
    k = venue.add_key(ip_whitelist=("10.9.8.7",))
    for conn in (
        connection_for(venue, k),
        connection_for(venue, k, api_secret=f"{CANARY}-wrong-secret"),
        connection_for(venue, k, api_key="CCCCCCCCCCCCCCCCCC"),
    ):
        report = await tester.test(conn, [strategy(conn, ("BTC/USDT",))], LOOPBACK)
        assert report.status is ConnectionStatus.FAILED
    assert CANARY not in caplog.text
    assert k.api_key not in caplog.text


async def test_balance_shows_free_after_open_orders(
    tester: ConnectionTester, venue: BybitVenue
) -> None:
    """The unified wallet's walletBalance includes what open orders lock: free is the rest."""
    k = venue.add_key()
    engine, now = venue.venue.engine, venue.venue.now_ms()
    acct = engine.account("bybit", k.api_key, k.balances)
    resting = Order(id="1", client_id="c1", symbol="BTC/USDT", side="buy", type="limit",
                    price=Decimal("30000"), amount=Decimal("0.001"), created_ms=now)  # fmt: skip
    engine.place(acct, resting, now)
    assert resting.is_open
    connection = connection_for(venue, k)
    report = await tester.test(connection, [strategy(connection, ("BTC/USDT",))], LOOPBACK)
    assert "unified account: USDT 970 free" in step(report, "auth").reason, report.to_dict()
