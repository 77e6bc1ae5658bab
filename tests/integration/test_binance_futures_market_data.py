"""The market data hub's Binance USDⓈ-M subscriptions against the sandbox with real ccxt
(`binanceusdm`, no key): the pair's perpetual is polled on fapi (ticker/24hr + depth), public
routes only, at the perpetual's price (spot × (1 + basis)); fapi's 24hr ticker carries no
bid/ask, so the book's best levels stand in; sizes in base, the contract's rules in base.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from backfuture_daemon.configuration.models import Endpoints
from backfuture_daemon.exchanges.market_data import MarketDataHub
from backfuture_daemon.sandbox.server import Sandbox

pytestmark = pytest.mark.integration
PUBLIC = {"/fapi/v1/ticker/24hr", "/fapi/v1/depth", "/fapi/v1/exchangeInfo"}
SPOT, BASIS = Decimal("60000"), Decimal("0.01")
PERP = SPOT * (1 + BASIS)  # 60600.0 on the 0.1 tick of BTCUSDT


@pytest.fixture
async def hub() -> AsyncIterator[MarketDataHub]:
    h = MarketDataHub(timeout=2.0)
    yield h
    await h.close()


async def test_binance_perpetual_quotes_at_the_perp_price_with_the_books_best_levels(
    sandbox: Sandbox, hub: MarketDataHub
) -> None:
    sandbox.set_market("BTC/USDT", price=float(SPOT))
    sandbox.control_market({"symbol": "BTC/USDT", "basis": float(BASIS)})
    ep = Endpoints(**sandbox.endpoints("binance"))
    futures = hub.subscribe("binance", ep, ["BTC/USDT"], market="futures")
    spot = hub.subscribe("binance", ep, ["BTC/USDT"])
    sandbox.reset_request_counts()
    await hub.tick()
    counts = sandbox.request_counts("binance")
    assert (counts["/fapi/v1/ticker/24hr"], counts["/fapi/v1/depth"]) == (1, 1), counts
    assert {p for p in counts if p.startswith("/fapi")} <= PUBLIC, counts
    fq, sq = futures.quote("BTC/USDT"), spot.quote("BTC/USDT")
    assert fq is not None
    assert sq is not None
    assert (fq.bid, fq.ask, fq.last) == (PERP - Decimal("0.1"), PERP + Decimal("0.1"), PERP)
    assert (sq.bid, sq.ask) == (SPOT - Decimal("0.01"), SPOT + Decimal("0.01"))
    book = futures.order_book("BTC/USDT")
    assert book is not None
    for _, amount in book.bids + book.asks:  # base, on the 0.001 step
        assert 0 < amount < 1
        assert amount % Decimal("0.001") == 0
    rules = futures.rules("BTC/USDT")
    assert rules is not None
    assert (rules.price_tick, rules.amount_step, rules.min_amount) == (
        Decimal("0.1"), Decimal("0.001"), Decimal("0.001")
    )  # fmt: skip
