"""The Bybit connection test end to end: the real ccxt `bybit` client against the sandbox's Bybit
venue over HTTP (real HMAC over the bytes as received, Bybit's HTTP 200 + retCode error bodies),
a healthy key and every error class, each with its remedy and no secret anywhere. The cases
every exchange shares run from venue_connection_cases with Bybit's codes below.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from backfuture_daemon.exchanges.probes import ConnectionTester
from backfuture_daemon.health import ConnectionStatus
from backfuture_daemon.health import ErrorClass as E
from backfuture_daemon.health import StepStatus as S
from backfuture_daemon.sandbox.engine import Order
from tests.integration.bybit_support import CANARY, FULL, FUTURES, BybitVenue
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
venue = venue_fixture(BybitVenue)


class TestShared(ConnectionTestCases):
    case = Case(
        read_only=("Exchange.ExchangeHistory",),
        no_trade=("trade", "readOnly"),
        withdraw="Wallet.Withdraw",
        unknown_key="X" * 18,
        unknown_key_says=("10003", "API key is invalid"),
        wrong_secret=f"{CANARY}-wrong-secret",
        bad_signature_says=("10004", "error sign!"),
        ip_not_allowed_says=("10010", "Unmatched IP"),
        clock_ahead_ms=8000,  # Bybit's recv_window: 5 s
        maintenance_says=("maintenance", "ongoing"),
        server_errors=((502, "502"),),
        not_tradable_says=("DOGE/USDT: spot market not active",),
        no_such_market_says="XYZ/USDT: no such spot market on Bybit",
        # without query-api: a spot order far below the minimum (refused by a business rule
        # after the permission check)
        key_endpoint="/v5/user/query-api",
        probe_path="/v5/order/create",
        log_variants=({"api_secret": f"{CANARY}-wrong-secret"}, {"api_key": "C" * 18}),
    )


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
    assert_online(report, venue)
    assert report.permissions == {"read": True, "trade": True, "futures": False, "withdraw": False}
    assert "unified account: USDT 1000 free" in step(report, "auth").reason
    assert "127.0.0.1" in step(report, "ip_whitelist").reason
    assert "Spot.SpotTrade" in step(report, "permissions").reason
    assert step(report, "key_expiry").reason == "the exchange reports no expiry for this key"


async def test_internal_transfer_only_warns(tester: ConnectionTester, venue: BybitVenue) -> None:
    report = await run(tester, venue, permissions=(*FULL, "Wallet.AccountTransfer"))
    assert report.status is ConnectionStatus.DEGRADED, report.to_dict()
    withdraw = step(report, "withdraw")
    assert withdraw.status is S.WARN
    assert "Wallet.AccountTransfer" in withdraw.reason


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
    connection = venue.connection_for(venue.add_key())
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


async def test_linear_perpetuals(tester: ConnectionTester, venue: BybitVenue) -> None:
    report = await run(tester, venue, market="futures", permissions=(*FULL, *FUTURES))
    assert report.status is ConnectionStatus.ONLINE, report.to_dict()
    assert "unified trading account" in step(report, "futures").reason
    assert report.permissions["futures"] is True
    report = await run(tester, venue, market="futures", pairs=("SOL/USDT",), permissions=FUTURES)
    assert_failed(report, "pairs", E.PAIR_NOT_TRADABLE, "no such USDT perpetual")
    report = await run(tester, venue, market="futures")
    assert_failed(report, "futures", E.NO_FUTURES_PERMISSION)


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
    connection = venue.connection_for(k)
    report = await tester.test(connection, [strategy(connection, ("BTC/USDT",))], LOOPBACK)
    assert "unified account: USDT 970 free" in step(report, "auth").reason, report.to_dict()
