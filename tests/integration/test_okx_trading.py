"""OKX spot orders on the sandbox's shared matching engine, through the real ccxt `okx` client
(createOrder's default batch endpoint, fetchOrder / cancelOrder by client order id, open orders,
balances) and on the wire (the JSON body is signed as sent; OKX's format and per-order errors,
50120 for a key without `trade`), and the history a restarted bot reads (fills, fills-history,
orders-history and its archive: newest first, paged, clOrdId on every row, canceled unfilled
orders for 2 hours). Client order ids: up to 32 alphanumerics.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import ccxt
import pytest

from backfuture_daemon.sandbox.keys import SandboxKey
from backfuture_daemon.sandbox.okx.signing import iso_timestamp, sign
from tests.integration.okx_support import OkxVenue
from tests.integration.venue_support import venue_fixture

pytestmark = pytest.mark.integration
ORDER = "/api/v5/trade/order"
venue = venue_fixture(OkxVenue)


@pytest.fixture
async def client(venue: OkxVenue) -> AsyncIterator[Any]:
    key = venue.add_key()
    ex = venue.ccxt_client(key, options={"fetchMarkets": {"types": ["spot"]}})
    ex.has["fetchCurrencies"] = False
    await ex.load_markets()
    try:
        yield ex
    finally:
        await ex.close()


async def test_place_read_list_cancel_by_client_id(client: Any, venue: OkxVenue) -> None:
    placed = await client.create_order(
        "BTC/USDT", "limit", "buy", 0.001, 30000, {"clientOrderId": "bot1g1add2"}
    )
    assert "/api/v5/trade/batch-orders" in venue.counts()  # ccxt's default path
    assert placed["id"]
    order = await client.fetch_order(None, "BTC/USDT", {"clientOrderId": "bot1g1add2"})
    assert (order["status"], order["clientOrderId"], order["price"]) == (
        "open",
        "bot1g1add2",
        30000,
    )
    assert order["amount"] == 0.001
    balance = await client.fetch_balance()
    assert balance["USDT"]["used"] == 30.0
    assert [o["clientOrderId"] for o in await client.fetch_open_orders("BTC/USDT")] == [
        "bot1g1add2"
    ]
    await client.cancel_order(None, "BTC/USDT", {"clientOrderId": "bot1g1add2"})
    order = await client.fetch_order(None, "BTC/USDT", {"clientOrderId": "bot1g1add2"})
    assert order["status"] == "canceled"
    assert await client.fetch_open_orders("BTC/USDT") == []
    assert (await client.fetch_balance())["USDT"]["free"] == 1000.0


async def test_market_buy_in_base_units_fills(client: Any) -> None:
    await client.create_order(
        "BTC/USDT", "market", "buy", 0.001, None, {"clientOrderId": "mkt1", "tgtCcy": "base_ccy"}
    )
    order = await client.fetch_order(None, "BTC/USDT", {"clientOrderId": "mkt1"})
    assert (order["status"], order["filled"]) == ("closed", 0.001)
    assert order["average"] is not None
    assert (await client.fetch_balance())["BTC"]["free"] == 0.001


async def test_order_failures_carry_okx_codes(client: Any) -> None:
    with pytest.raises(ccxt.InsufficientFunds, match="51008"):
        await client.create_order("BTC/USDT", "limit", "buy", 1, 60000, {"clientOrderId": "big"})
    await client.create_order("ETH/USDT", "limit", "buy", 0.01, 1000, {"clientOrderId": "dup"})
    with pytest.raises(ccxt.ExchangeError, match="51016"):
        await client.create_order("ETH/USDT", "limit", "buy", 0.01, 1000, {"clientOrderId": "dup"})
    with pytest.raises(ccxt.BadSymbol, match="51001"):  # listed, not tradable by API
        await client.create_order("DOGE/USDT", "limit", "buy", 100, 0.1, {"clientOrderId": "d1"})
    with pytest.raises(ccxt.OrderNotFound, match="51603"):
        await client.fetch_order(None, "BTC/USDT", {"clientOrderId": "never"})
    with pytest.raises(ccxt.ExchangeError, match="51400"):
        await client.cancel_order(None, "BTC/USDT", {"clientOrderId": "never"})


def _headers(key: SandboxKey, method: str, target: str, body: str) -> dict[str, str]:
    ts = iso_timestamp(int(time.time() * 1000))
    return {
        "OK-ACCESS-KEY": key.api_key,
        "OK-ACCESS-PASSPHRASE": key.passphrase or "",
        "OK-ACCESS-TIMESTAMP": ts,
        "OK-ACCESS-SIGN": sign(key.secret_bytes, ts, method, target, body),
        "Content-Type": "application/json",
    }


async def test_body_signed_as_sent_and_format_errors(venue: OkxVenue) -> None:
    key = venue.add_key()
    read_only = venue.add_key(permissions=("read_only",))

    async def post(body: str, k: SandboxKey = key, signed: str | None = None) -> tuple[int, Any]:
        hdrs = _headers(k, "POST", ORDER, body if signed is None else signed)
        url = venue.url + ORDER
        async with (
            aiohttp.ClientSession() as http,
            http.post(url, data=body.encode(), headers=hdrs) as r,
        ):
            return r.status, json.loads(await r.text())

    # unusual key order and spacing: verified over the bytes as sent, never re-serialised
    body = '{ "sz":"0.001", "px":"30000", "ordType":"limit", "side":"buy", "tdMode":"cash",' \
           ' "instId":"BTC-USDT", "clOrdId":"raw1" }'  # fmt: skip
    status, answer = await post(body)
    assert (status, answer["code"], answer["data"][0]["sCode"]) == (200, "0", "0")
    status, answer = await post(body.replace("raw1", "raw2"), signed=body)
    assert (status, answer) == (401, {"msg": "Invalid signature", "code": "50113"})
    status, answer = await post(body.replace("raw1", "raw3"), k=read_only)
    assert (status, answer["code"]) == (401, "50120")
    assert (await post(""))[1]["code"] == "50000"
    assert (await post("{not json"))[1]["code"] == "50002"
    status, answer = await post('{"instId":"BTC-USDT","side":"buy","ordType":"limit","sz":"1"}')
    assert (status, answer) == (400, {"msg": "Parameter tdMode can not be empty.",
                                      "code": "50014"})  # fmt: skip
    bad_id = body.replace('"raw1"', '"has-dash"')
    assert (await post(bad_id))[1] == {"msg": "Parameter clOrdId error", "code": "51000"}
    assert (await post(body.replace('"0.001"', '"0"')))[1]["code"] == "51000"
    status, answer = await post(body.replace('"0.001"', '"0.0000001"').replace("raw1", "raw4"))
    assert (status, answer["code"], answer["data"][0]["sCode"]) == (200, "1", "51121")


async def test_fills_and_order_history_as_okx_lists_them(client: Any, venue: OkxVenue) -> None:
    await client.create_order("BTC/USDT", "market", "buy", 0.002, None, {"clientOrderId": "f1"})
    await client.create_order("BTC/USDT", "market", "sell", 0.001, None, {"clientOrderId": "f2"})
    await client.create_order("BTC/USDT", "limit", "buy", 0.001, 20000, {"clientOrderId": "c1"})
    await client.cancel_order(None, "BTC/USDT", {"clientOrderId": "c1"})
    trades = await client.fetch_my_trades("BTC/USDT")  # ccxt's path: trade/fills-history
    assert [(t["info"]["clOrdId"], t["side"], t["amount"]) for t in trades] == [
        ("f1", "buy", 0.002),
        ("f2", "sell", 0.001),
    ]
    assert [t["fee"]["currency"] for t in trades] == ["BTC", "USDT"]
    spot = {"instType": "SPOT", "instId": "BTC-USDT"}
    recent = (await client.privateGetTradeFills(spot))["data"]  # last 3 days, newest first
    assert [r["clOrdId"] for r in recent] == ["f2", "f1"]
    older = await client.privateGetTradeFills({**spot, "after": recent[0]["billId"]})
    assert [r["clOrdId"] for r in older["data"]] == ["f1"]
    newer = await client.privateGetTradeFills({**spot, "before": recent[1]["billId"]})
    assert [r["clOrdId"] for r in newer["data"]] == ["f2"]
    assert (await client.privateGetTradeFills({**spot, "limit": "1"}))["data"] == recent[:1]
    with pytest.raises(ccxt.ExchangeError, match="50014"):  # instType required here
        await client.privateGetTradeFillsHistory({"instId": "BTC-USDT"})
    with pytest.raises(ccxt.BadRequest, match="51000"):
        await client.privateGetTradeFills({**spot, "limit": "101"})
    assert (await client.privateGetTradeFillsHistory({"instType": "SWAP"}))["data"] == []

    done = (await client.privateGetTradeOrdersHistory(spot))["data"]  # completed only
    assert [(r["clOrdId"], r["state"]) for r in done] == [
        ("c1", "canceled"),
        ("f2", "filled"),
        ("f1", "filled"),
    ]
    canceled = await client.privateGetTradeOrdersHistory({**spot, "state": "canceled"})
    assert [r["clOrdId"] for r in canceled["data"]] == ["c1"]
    # OKX keeps a canceled order that never filled for 2 hours only
    (acct,) = [a for a in [venue.venue.engine.find_account("okx", client.apiKey)] if a]
    acct.orders[acct.by_client_id["c1"]].updated_ms -= 2 * 3_600_000 + 1_000
    archive = await client.privateGetTradeOrdersHistoryArchive(spot)
    assert [r["clOrdId"] for r in archive["data"]] == ["f2", "f1"]


async def test_open_orders_are_paged_newest_first(client: Any) -> None:
    for n in (1, 2, 3):
        await client.create_order(
            "BTC/USDT", "limit", "buy", 0.001, 20000 + n, {"clOrdId": f"o{n}"}
        )
    spot = {"instType": "SPOT", "instId": "BTC-USDT"}
    page = (await client.privateGetTradeOrdersPending({**spot, "limit": "2"}))["data"]
    assert [r["clOrdId"] for r in page] == ["o3", "o2"]
    rest = await client.privateGetTradeOrdersPending({**spot, "after": page[-1]["ordId"]})
    assert [r["clOrdId"] for r in rest["data"]] == ["o1"]
    assert (await client.privateGetTradeOrdersPending({"instType": "SWAP"}))["data"] == []
