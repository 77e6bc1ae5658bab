"""The Binance connection test end to end: the real ccxt `binance` client against the sandbox's
Binance venue over HTTP (real HMAC over the bytes as received, Binance's real error bodies and
statuses), a healthy key and every error class, each with its remedy and no secret anywhere.
The cases every exchange shares run from venue_connection_cases with Binance's codes below.
"""

from __future__ import annotations

from decimal import Decimal

import ccxt
import pytest
from pydantic import SecretStr

from backfuture_daemon.configuration.models import Connection, Endpoints
from backfuture_daemon.exchanges.probes import ConnectionTester
from backfuture_daemon.health import ConnectionStatus
from backfuture_daemon.health import ErrorClass as E
from backfuture_daemon.health import StepStatus as S
from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.server import Sandbox
from tests.integration.binance_support import CANARY, FULL, BinanceVenue
from tests.integration.connection_test_support import strategy
from tests.integration.venue_connection_cases import Case, ConnectionTestCases
from tests.integration.venue_support import (
    LOOPBACK,
    assert_failed,
    assert_online,
    run,
    step,
    venue_fixture,
)

pytestmark = pytest.mark.integration
venue = venue_fixture(BinanceVenue)


class TestShared(ConnectionTestCases):
    case = Case(
        read_only=("enableReading",),
        no_trade=("trade",),
        withdraw="enableWithdrawals",
        unknown_key="A" * 64,
        unknown_key_says=("-2008", "Invalid Api-Key ID"),
        wrong_secret=f"{CANARY}-wrong",
        bad_signature_says=("-1022", "Signature for this request"),
        ip_not_allowed_says=("-2015",),
        clock_ahead_ms=8000,  # Binance's recvWindow: 5 s
        maintenance_says=("system_maintenance",),
        server_errors=((502, "502"),),
        not_tradable_says=("DOGE/USDT", "isSpotTradingAllowed"),
        no_such_market_says="XYZ/USDT: no such spot market",
        key_endpoint="/sapi/v1/account/apiRestrictions",
        probe_path="/api/v3/order/test",
        log_variants=({"api_secret": f"{CANARY}-wrong"}, {"api_key": "C" * 64}),
    )


async def test_malformed_key(tester: ConnectionTester, venue: BinanceVenue) -> None:
    report = await run(tester, venue, conn={"api_key": "not-a-binance-key"})
    assert_failed(report, "auth", E.INVALID_KEY, "-2014", "API-key format invalid")


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
    assert_online(report, venue)
    assert report.permissions == {"read": True, "trade": True, "futures": False, "withdraw": False}
    assert "USDT 1000 free" in step(report, "auth").reason
    ip = step(report, "ip_whitelist")
    assert ip.status is S.PASS
    assert "restricted yes/no" in ip.reason
    assert "enableSpotAndMarginTrading" in step(report, "permissions").reason


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


async def test_trading_lapsed_after_30_days_without_ip_restriction(
    tester: ConnectionTester, venue: BinanceVenue
) -> None:
    report = await run(tester, venue, ip_whitelist=(), age_days=31)
    assert_failed(report, "permissions", E.NO_TRADE_PERMISSION, "expired")


async def test_ip_banned_after_ignoring_429s(tester: ConnectionTester, venue: BinanceVenue) -> None:
    """Calling on inside a 429's Retry-After gets the IP banned: HTTP 418, code -1003, a
    Retry-After of minutes, and the ban outlasts the rate limit (Binance LIMITS)."""
    venue.faults.rate_limit = True
    venue.faults.retry_after_s = 30
    client = venue.ccxt_client()
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


async def test_through_the_full_sandbox(tester: ConnectionTester) -> None:
    """The registered wiring: `Sandbox` serves Binance on its own port (`binance_port`) with
    its own fault knobs, and a Connection on `Sandbox.endpoints("binance")` tests online."""
    key = SandboxKey(exchange="binance", api_key="B" * 64, api_secret=f"{CANARY}-full",
                     permissions=frozenset(FULL), ip_whitelist=("127.0.0.1",),
                     balances={"USDT": Decimal(1000)})  # fmt: skip
    async with Sandbox([key], binance_port=0) as sb:
        conn = Connection(
            name="Binance Full Sandbox",
            exchange="binance",
            api_key=SecretStr(key.api_key),
            api_secret=SecretStr(key.api_secret),
            endpoints=Endpoints(**sb.endpoints("binance")),
        )
        report = await tester.test(conn, [strategy(conn)], LOOPBACK)
        assert report.status is ConnectionStatus.ONLINE, report.to_dict()
        assert sb.faults("binance") is not sb.faults("mexc")
        sb.faults("binance").maintenance = True
        report = await tester.test(conn, [strategy(conn)], LOOPBACK)
        assert report.error_classes == (E.EXCHANGE_UNAVAILABLE,), report.to_dict()
        assert sb.request_counts("binance")["/sapi/v1/account/apiRestrictions"] == 1
