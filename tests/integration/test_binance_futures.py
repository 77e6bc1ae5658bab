"""The Binance connection test for a USDⓈ-M futures strategy, through the real ccxt `binance` and
`binanceusdm` clients against the sandbox venue: the perpetuals load from the public fapi
exchangeInfo alone, a key with `enableFutures` reads its futures account, one without fails with
no_futures_permission, and a pair without a perpetual is not tradable.
"""

from __future__ import annotations

import pytest

from backfuture_daemon.exchanges.probes import ConnectionTester
from backfuture_daemon.health import ConnectionReport, ConnectionStatus
from backfuture_daemon.health import ErrorClass as E
from backfuture_daemon.health import StepStatus as S
from tests.integration.binance_support import FULL, BinanceVenue
from tests.integration.venue_support import run, step, venue_fixture

pytestmark = pytest.mark.integration
FUTURES = (*FULL, "enableFutures")
venue = venue_fixture(BinanceVenue)


async def run_futures(
    tester: ConnectionTester,
    venue: BinanceVenue,
    pairs: tuple[str, ...] = ("BTC/USDT",),
    permissions: tuple[str, ...] = FULL,
) -> ConnectionReport:
    return await run(tester, venue, pairs=pairs, market="futures", permissions=permissions)


async def test_futures_key_online_markets_public(
    tester: ConnectionTester, venue: BinanceVenue
) -> None:
    report = await run_futures(tester, venue, permissions=FUTURES)
    assert report.status is ConnectionStatus.ONLINE, report.to_dict()
    loads = {p for p in venue.counts() if "exchangeInfo" in p or p.startswith("/sapi/v1/margin")}
    assert loads == {"/api/v3/exchangeInfo", "/fapi/v1/exchangeInfo"}, venue.counts()
    venue.reset_counts()
    report = await run_futures(tester, venue, permissions=FUTURES)
    assert report.status is ConnectionStatus.ONLINE, report.to_dict()
    futures = step(report, "futures")
    assert futures.status is S.PASS
    assert "USDT 1000" in futures.reason
    assert report.permissions["futures"] is True
    assert sum(venue.counts().values()) <= 5, venue.counts()


async def test_key_without_futures_permission(
    tester: ConnectionTester, venue: BinanceVenue
) -> None:
    report = await run_futures(tester, venue)
    assert report.status is ConnectionStatus.FAILED
    for name in ("permissions", "futures"):
        found = step(report, name)
        assert (found.status, found.error_class) == (S.FAIL, E.NO_FUTURES_PERMISSION)
    assert report.error_classes == (E.NO_FUTURES_PERMISSION,)


async def test_pair_without_a_perpetual(tester: ConnectionTester, venue: BinanceVenue) -> None:
    report = await run_futures(tester, venue, ("BTC/USDT", "SOL/USDT"), permissions=FUTURES)
    pairs = step(report, "pairs")
    assert (pairs.status, pairs.error_class) == (S.FAIL, E.PAIR_NOT_TRADABLE)
    assert "SOL/USDT: no such USDⓈ-M perpetual market on Binance" in pairs.reason


async def test_futures_account_refused_names_the_request_ip(
    tester: ConnectionTester,
) -> None:
    """Without the key endpoint the futures flag is unknown; the futures account answers -2015
    with the caller's address (fapi's wording), and the step says what to do."""
    async with BinanceVenue(without=frozenset({"/sapi/v1/account/apiRestrictions"})) as bare:
        report = await run_futures(tester, bare)
    futures = step(report, "futures")
    assert futures.status is S.FAIL, report.to_dict()
    assert "request ip: 127.0.0.1" in futures.reason
    assert "enable futures" in futures.reason
