"""The sandbox's `placement_5xx` fault through real ccxt: an order placement reaches the gateway,
is NOT placed and answers the configured 5xx; every other request (lookups, balances, cancels) is
served as usual. Set through `POST /__sandbox/faults` like the other order faults."""

from __future__ import annotations

import json

import aiohttp
import ccxt.async_support as ccxt
import pytest

from backfuture_daemon.sandbox import Sandbox
from tests.integration.conftest import Clients

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("venue", ["mexc", "kucoin-hf", "kucoin-classic"])
async def test_placement_5xx_places_nothing_and_serves_everything_else(
    sandbox: Sandbox, clients: Clients, venue: str
) -> None:
    symbol = "BTC/USDT"
    sandbox.set_market(symbol, price=100)
    if venue == "mexc":
        ex, key = clients.mexc("mx0-it-healthy"), "mx0-it-healthy"
        await ex.load_markets()
    else:
        hf = venue == "kucoin-hf"
        key = "kc-it-hf" if hf else "kc-it-healthy"
        ex = clients.kucoin(key, options={"hf": hf})
        await ex.load_markets(False, {"marginables": False})
    resting = await ex.create_order(symbol, "limit", "buy", 0.05, 90, {"clientOrderId": "p5-0"})
    sandbox.faults(venue.split("-")[0]).update({"placement_5xx": 502})
    with pytest.raises(ccxt.ExchangeNotAvailable):
        await ex.create_order(symbol, "limit", "buy", 0.05, 95, {"clientOrderId": "p5-1"})
    with pytest.raises(ccxt.ExchangeError):  # looked up: it was never placed (-2013, 400100)
        await ex.fetch_order(None, symbol, {"clientOrderId": "p5-1"})
    assert (await ex.fetch_order(resting["id"], symbol))["status"] == "open"
    assert await ex.fetch_balance()
    assert [o["client_order_id"] for o in sandbox.orders_of(key)["orders"]] == ["p5-0"]
    sandbox.faults(venue.split("-")[0]).update({"placement_5xx": 0})
    await ex.create_order(symbol, "limit", "buy", 0.05, 95, {"clientOrderId": "p5-1"})
    assert [o["client_order_id"] for o in sandbox.orders_of(key)["orders"]] == ["p5-0", "p5-1"]


async def test_placement_5xx_is_switched_through_the_admin_route(sandbox: Sandbox) -> None:
    async with aiohttp.ClientSession() as s:
        url = sandbox.mexc_url + "/__sandbox/faults"
        async with s.post(url, data=json.dumps({"placement_5xx": 503})) as r:
            assert r.status == 200
        assert sandbox.faults("mexc").placement_5xx == 503
        assert sandbox.faults("kucoin").placement_5xx == 0
        async with s.post(url, data=json.dumps({"placement_5xx": 404})) as r:
            assert r.status == 400
            assert "placement_5xx: must be 0 (off) or a status 500..599" in await r.text()
        assert sandbox.faults("mexc").placement_5xx == 503
        async with s.post(url, data=json.dumps({"reset": True})) as r:
            assert r.status == 200
        assert sandbox.faults("mexc").placement_5xx == 0
