"""The sandbox's Binance venue on the wire: signatures checked over the bytes as received (any
parameter order or encoding, signature in the query or the body, query + body concatenated),
Binance's check order and real error bodies and statuses, the order test's validation, and the
real ccxt client reading through it. Also why the adapter classifies by Binance's code: ccxt
turns -2015 into DDoSProtection after a successful private call (reference §C.2).
"""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp
import ccxt
import pytest
from yarl import URL

from backfuture_daemon.configuration.models import Endpoints
from backfuture_daemon.exchanges.binance import client_spec
from backfuture_daemon.exchanges.classify import classify_error
from backfuture_daemon.exchanges.clients import ClientFactory
from backfuture_daemon.health import ErrorClass as E
from backfuture_daemon.sandbox.binance.signing import sign
from backfuture_daemon.sandbox.keys import SandboxKey
from tests.integration.binance_support import BinanceVenue
from tests.integration.venue_support import venue_fixture

pytestmark = pytest.mark.integration
venue = venue_fixture(BinanceVenue)


def now_ms() -> int:
    return int(time.time() * 1000)


async def call(
    http: aiohttp.ClientSession,
    venue: BinanceVenue,
    method: str,
    path: str,
    *,
    key: SandboxKey | None,
    query: str = "",
    body: str = "",
) -> tuple[int, Any]:
    """Send exactly these bytes (no re-encoding) with the key's X-MBX-APIKEY header."""
    headers = {"X-MBX-APIKEY": key.api_key} if key else {}
    if body:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    url = venue.url + path + (f"?{query}" if query else "")
    async with http.request(
        method, URL(url, encoded=True), data=body or None, headers=headers
    ) as r:
        text = await r.text()
        return r.status, json.loads(text) if r.content_type == "application/json" else text


def signed(key: SandboxKey, payload: str) -> str:
    return sign(key.secret_bytes, payload)


async def test_signature_over_raw_bytes_any_order_encoding_and_place(
    http: aiohttp.ClientSession, venue: BinanceVenue
) -> None:
    key = venue.add_key()
    ts = now_ms()
    # unusual order and a percent-encoded value: verified as sent, never re-serialised
    q = f"recvWindow=5000&omitZeroBalances=%74rue&timestamp={ts}"
    assert (await call(http, venue, "GET", "/api/v3/account", key=key,
                       query=f"{q}&signature={signed(key, q)}"))[0] == 200  # fmt: skip
    # the signature first, and in upper-case hex
    sig = signed(key, q).upper()
    status, _ = await call(http, venue, "GET", "/api/v3/account", key=key,
                           query=f"signature={sig}&{q}")  # fmt: skip
    assert status == 200
    # POST: half the parameters in the query, half in the body; signed as query + body
    # (concatenated with no "&", rest-api.md example 3), the signature in the body
    query = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC"
    body = f"quantity=0.001&price=60000&recvWindow=5000&timestamp={now_ms()}"
    status, answer = await call(http, venue, "POST", "/api/v3/order/test", key=key, query=query,
                                body=f"{body}&signature={signed(key, query + body)}")  # fmt: skip
    assert (status, answer) == (200, {})
    # one changed byte after signing
    tampered = q.replace("5000", "5001")
    status, answer = await call(http, venue, "GET", "/api/v3/account", key=key,
                                query=f"{tampered}&signature={signed(key, q)}")  # fmt: skip
    assert (status, answer["code"]) == (400, -1022)
    assert answer["msg"] == "Signature for this request is not valid."


async def test_check_order_and_real_error_bodies(
    http: aiohttp.ClientSession, venue: BinanceVenue
) -> None:
    key = venue.add_key()

    async def account(query: str, k: SandboxKey | None = key) -> tuple[int, Any]:
        return await call(http, venue, "GET", "/api/v3/account", key=k, query=query)

    q = f"timestamp={now_ms()}"
    assert await account(f"{q}&signature={signed(key, q)}", None) == (
        401, {"code": -2014, "msg": "API-key format invalid."})  # fmt: skip
    stranger = SandboxKey(exchange="binance", api_key="B" * 64, api_secret="x")
    assert await account(f"{q}&signature=00", stranger) == (
        401, {"code": -2008, "msg": "Invalid Api-Key ID."})  # fmt: skip
    status, body = await account(q)
    assert (status, body["code"]) == (400, -1102)
    assert "'signature'" in body["msg"]
    for query, msg in [
        (f"timestamp={now_ms() - 6000}", "outside of the recvWindow"),
        (f"timestamp={now_ms() + 5000}", "1000ms ahead of the server's time"),
    ]:
        status, body = await account(f"{query}&signature={signed(key, query)}")
        assert (status, body["code"]) == (400, -1021)
        assert msg in body["msg"]
    wide = f"timestamp={now_ms()}&recvWindow=70000"
    status, body = await account(f"{wide}&signature={signed(key, wide)}")
    assert (status, body["code"]) == (400, -1131)
    elsewhere = venue.add_key(ip_whitelist=("10.1.2.3",))
    q2 = f"timestamp={now_ms()}"
    assert await account(f"{q2}&signature={signed(elsewhere, q2)}", elsewhere) == (
        401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."})  # fmt: skip
    status, body = await call(http, venue, "GET", "/api/v3/nothing-here", key=None)
    assert status == 404
    assert "Not Found" in body


async def test_order_test_validates_like_an_order(
    http: aiohttp.ClientSession, venue: BinanceVenue
) -> None:
    key = venue.add_key()
    read_only = venue.add_key(permissions=("enableReading",))
    frozen = venue.add_key(frozen=True)

    async def order(params: str, k: SandboxKey = key) -> tuple[int, Any]:
        body = f"{params}&timestamp={now_ms()}"
        return await call(http, venue, "POST", "/api/v3/order/test", key=k,
                          body=f"{body}&signature={signed(k, body)}")  # fmt: skip

    market = "side=BUY&type=MARKET&quoteOrderQty=10"
    assert await order(f"symbol=BTCUSDT&{market}") == (200, {})
    assert (await order(f"symbol=NOPEUSDT&{market}"))[1]["code"] == -1121
    assert await order(f"symbol=DOGEUSDT&{market}") == (
        400, {"code": -2010, "msg": "This symbol is not permitted for this account."})  # fmt: skip
    lot = await order("symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.0000001"
                      "&price=60000")  # fmt: skip
    assert lot == (400, {"code": -1013, "msg": "Filter failure: LOT_SIZE"})
    assert (await order(f"symbol=BTCUSDT&{market}", read_only))[1]["code"] == -2015
    assert (await order(f"symbol=BTCUSDT&{market}", frozen))[1] == {
        "code": -2010, "msg": "This action is disabled on this account."}  # fmt: skip


async def test_ccxt_reads_through_the_venue_and_minus_2015_needs_the_code(
    venue: BinanceVenue,
) -> None:
    """ccxt's own calls work unchanged; and a -2015 after a successful private call arrives as
    DDoSProtection (reference §C.2): only Binance's code says it is not a rate limit."""
    key = venue.add_key(permissions=("enableReading",))
    client = venue.ccxt_client(
        key,
        options={"fetchMargins": False, "fetchMarkets": {"types": ["spot"]}},
        has={"fetchCurrencies": False},
    )
    try:
        await client.load_markets()
        assert client.markets["BTC/USDT"]["active"] is True
        ticker = await client.fetch_ticker("BTC/USDT")
        assert ticker["bid"] < ticker["ask"]
        book = await client.fetch_order_book("ETH/USDT", 5)
        assert len(book["bids"]) == 5
        assert abs(await client.fetch_time() - now_ms()) < 5000
        balance = await client.fetch_balance()
        assert balance["USDT"]["free"] == 1000
        with pytest.raises(ccxt.DDoSProtection) as caught:
            await client.privatePostOrderTest(
                {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteOrderQty": "10"}
            )
        c = classify_error(caught.value, "binance")
        assert (c.code, c.error_class) == ("-2015", E.IP_NOT_ALLOWED)
        assert c.error_class is not E.RATE_LIMITED
    finally:
        await client.close()


@pytest.mark.parametrize("futures", [False, True])
async def test_load_markets_makes_no_private_call_even_with_credentials(
    venue: BinanceVenue, futures: bool
) -> None:
    """The adapter's client spec, with the key set (ccxt skips the signed margin and currency
    calls only when told to, reference §A): one public exchangeInfo request, nothing else."""
    key = venue.add_key()
    factory = ClientFactory(2.0)
    client = factory(client_spec(Endpoints(spot=venue.url), futures=futures),
                     venue.connection_for(key))  # fmt: skip
    try:
        await client.load_markets()
    finally:
        await client.close()
        await factory.close()
    path = "/fapi/v1/exchangeInfo" if futures else "/api/v3/exchangeInfo"
    assert venue.counts() == {path: 1}
    symbol = "BTC/USDT:USDT" if futures else "BTC/USDT"
    assert client.markets[symbol]["active"] is True
    if not futures:
        # ccxt calls DOGE/USDT active although the API may not trade it: the adapter checks.
        assert client.markets["DOGE/USDT"]["active"] is True
        assert client.markets["DOGE/USDT"]["info"]["isSpotTradingAllowed"] is False


async def test_orders_on_the_wire(http: aiohttp.ClientSession, venue: BinanceVenue) -> None:
    """A new order's answer by newOrderRespType, a duplicate open client id, a client id
    outside Binance's pattern, and unknown orders on query (-2013) and cancel (-2011)."""
    key = venue.add_key()

    async def send(method: str, path: str, params: str) -> tuple[int, Any]:
        q = f"{params}&timestamp={now_ms()}"
        return await call(http, venue, method, path, key=key,
                          query=f"{q}&signature={signed(key, q)}")  # fmt: skip

    limit = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=30000"
    status, ack = await send(
        "POST", "/api/v3/order", f"{limit}&newClientOrderId=a1&newOrderRespType=ACK"
    )
    assert status == 200
    assert set(ack) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    status, full = await send("POST", "/api/v3/order", f"{limit}&newClientOrderId=a2")
    assert (status, full["status"], full["fills"]) == (200, "NEW", [])
    assert await send("POST", "/api/v3/order", f"{limit}&newClientOrderId=a2") == (
        400, {"code": -2010, "msg": "Duplicate order sent."})  # fmt: skip
    status, bad = await send("POST", "/api/v3/order", f"{limit}&newClientOrderId=has%20space")
    assert (status, bad["code"]) == (400, -1100)
    status, got = await send("GET", "/api/v3/order", "symbol=BTCUSDT&origClientOrderId=a1")
    assert (status, got["orderId"], got["status"]) == (200, ack["orderId"], "NEW")
    assert await send("GET", "/api/v3/order", "symbol=BTCUSDT&origClientOrderId=zz") == (
        400, {"code": -2013, "msg": "Order does not exist."})  # fmt: skip
    status, gone = await send("DELETE", "/api/v3/order", "symbol=BTCUSDT&origClientOrderId=a1")
    assert (status, gone["status"], gone["origClientOrderId"]) == (200, "CANCELED", "a1")
    assert await send("DELETE", "/api/v3/order", "symbol=BTCUSDT&origClientOrderId=a1") == (
        400, {"code": -2011, "msg": "Unknown order sent."})  # fmt: skip
    status, market = await send("POST", "/api/v3/order",
                                "symbol=ETHUSDT&side=BUY&type=MARKET&quoteOrderQty=20")  # fmt: skip
    assert (status, market["status"], len(market["fills"])) == (200, "FILLED", 1)
    assert isinstance(market["fills"][0]["tradeId"], int)
