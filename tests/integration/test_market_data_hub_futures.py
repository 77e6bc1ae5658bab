"""The market data hub's futures subscriptions against the sandbox with real ccxt (kucoinfutures):
a pair's perpetual is polled on the futures host (one ticker and one level-2 depth per pair per
tick, however many subscribers), public routes only, read back under the config's pair at the
perpetual's own price (the sandbox quotes it at spot × (1 + basis)), book sizes in base amounts
and the contract's rules; spot subscriptions on the same endpoint are unaffected.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from backfuture_daemon.configuration.models import Endpoints
from backfuture_daemon.exchanges.market_data import MarketDataHub
from backfuture_daemon.sandbox.server import Sandbox

pytestmark = pytest.mark.integration
FUT_TICKER, FUT_DEPTH = "/api/v1/ticker", "/api/v1/level2/depth20"
#: every futures-host path a credential-free kucoinfutures client may call: polls + market load.
FUTURES_PUBLIC = {FUT_TICKER, FUT_DEPTH, "/api/v1/contracts/active"}
SPOT_TICKER, SPOT_DEPTH = "/api/v1/market/stats", "/api/v1/market/orderbook/level2_20"
#: spot-host paths: the spot polls, the spot market load, and kucoinfutures' currencies.
SPOT_PUBLIC = {SPOT_TICKER, SPOT_DEPTH, "/api/v2/symbols", "/api/v3/currencies"}
SPOT, BASIS = Decimal("60000"), Decimal("0.01")
PERP = SPOT * (1 + BASIS)  # 60600.0: on the 0.1 tick of XBTUSDTM


@pytest.fixture
async def hub() -> AsyncIterator[MarketDataHub]:
    h = MarketDataHub(timeout=2.0)
    yield h
    await h.close()


def kucoin(sandbox: Sandbox) -> Endpoints:
    return Endpoints(**sandbox.endpoints("kucoin"))


async def test_futures_subscriptions_share_one_perpetual_poll_per_pair_and_leave_spot_alone(
    sandbox: Sandbox, hub: MarketDataHub
) -> None:
    sandbox.set_market("BTC/USDT", price=float(SPOT))
    sandbox.control_market({"symbol": "BTC/USDT", "basis": float(BASIS)})
    ep = kucoin(sandbox)
    futures = [
        hub.subscribe("kucoin", ep, ["BTC/USDT", "ETH/USDT"][: 1 + i % 2], market="futures")
        for i in range(30)
    ]
    spot = [hub.subscribe("kucoin", ep, ["BTC/USDT"]) for _ in range(10)]
    sandbox.reset_request_counts()
    for tick in range(1, 3):
        await hub.tick()
        f, s = sandbox.request_counts("kucoinfutures"), sandbox.request_counts("kucoin")
        assert (f[FUT_TICKER], f[FUT_DEPTH]) == (2 * tick, 2 * tick), f  # 2 perps, not 30 bots
        assert (s[SPOT_TICKER], s[SPOT_DEPTH]) == (tick, tick), s  # the spot pair, once
    assert f["/api/v1/contracts/active"] == 1, f  # contracts loaded once, then shared
    assert set(f) <= FUTURES_PUBLIC, f  # no key, no private call on the futures host
    assert set(s) <= SPOT_PUBLIC, s
    assert hub.requests == 2 * (2 + 2 + 1 + 1)

    fq, sq = futures[0].quote("BTC/USDT"), spot[0].quote("BTC/USDT")
    assert fq is not None
    assert sq is not None
    assert fq.pair == sq.pair == "BTC/USDT"  # the bot keeps its config pair
    assert (fq.bid, fq.ask) == (PERP - Decimal("0.1"), PERP + Decimal("0.1"))  # the perp's
    assert (sq.bid, sq.ask) == (SPOT - Decimal("0.01"), SPOT + Decimal("0.01"))  # spot's own
    book = futures[0].order_book("BTC/USDT")
    assert book is not None
    assert book.pair == "BTC/USDT"
    assert book.bids[0][0] == PERP - Decimal("0.1")
    assert book.asks[0][0] == PERP + Decimal("0.1")
    for _, amount in book.bids + book.asks:  # whole contracts of 0.001 BTC, in BTC
        assert 0 < amount < 1
        assert amount % Decimal("0.001") == 0
    assert all(s.failure("BTC/USDT") is None for s in futures + spot)

    rules, spot_rules = futures[0].rules("BTC/USDT"), spot[0].rules("BTC/USDT")
    assert rules is not None
    assert spot_rules is not None
    assert (rules.price_tick, rules.amount_step, rules.min_amount) == (
        Decimal("0.1"), Decimal("0.001"), Decimal("0.001")
    )  # fmt: skip
    assert (spot_rules.price_tick, spot_rules.amount_step) == (Decimal("0.01"), Decimal("1e-6"))

    for sub in futures:
        sub.close()
    sandbox.reset_request_counts()
    await hub.tick()
    assert sandbox.request_counts("kucoinfutures") == {}
    s = sandbox.request_counts("kucoin")
    assert (s[SPOT_TICKER], s[SPOT_DEPTH]) == (1, 1), s
    assert spot[0].quote("BTC/USDT") is not None


async def test_a_pair_without_a_perpetual_is_a_failure_not_an_exception(
    sandbox: Sandbox, hub: MarketDataHub
) -> None:
    sub = hub.subscribe("kucoin", kucoin(sandbox), ["SOL/USDT", "BTC/USDT"], market="futures")
    await hub.tick()
    assert sub.quote("SOL/USDT") is None  # the sandbox lists no SOLUSDTM
    assert sub.failure("SOL/USDT") is not None
    assert sub.rules("SOL/USDT") is None
    assert sub.quote("BTC/USDT") is not None
    assert sub.failure("BTC/USDT") is None


async def test_futures_market_data_is_refused_where_the_hub_has_none(
    sandbox: Sandbox, hub: MarketDataHub
) -> None:
    with pytest.raises(ValueError, match="no futures market data for 'mexc'"):
        hub.subscribe(
            "mexc", Endpoints(**sandbox.endpoints("mexc")), ["BTC/USDT"], market="futures"
        )
    with pytest.raises(ValueError, match="unknown market"):
        hub.subscribe("kucoin", kucoin(sandbox), ["BTC/USDT"], market="margin")
    assert hub.requests == 0
