"""The Bybit venue's spot order routes on the wire (sandbox/bybit/trading.py): the order rules'
retCodes, the lists as Bybit shapes them (real-time: open orders, the recently closed with
`openOnly=1`, one order by id whatever its state; history: done orders inside a 7-day window;
executions naming their orderLinkId; cursor pages), and ccxt's unified order methods reading
them. Hand-made requests are signed with sandbox/bybit/signing.sign (test_bybit_sandbox.call).
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from backfuture_daemon.configuration.models import Endpoints
from backfuture_daemon.exchanges.bybit import client_spec
from backfuture_daemon.sandbox.control import parse_command
from backfuture_daemon.sandbox.keys import SandboxKey
from tests.integration.bybit_support import BybitVenue
from tests.integration.test_bybit_sandbox import call, code
from tests.integration.venue_support import venue_fixture

pytestmark = pytest.mark.integration
venue = venue_fixture(BybitVenue)
CREATE, CANCEL = "/v5/order/create", "/v5/order/cancel"
REALTIME, HISTORY, EXECUTIONS = "/v5/order/realtime", "/v5/order/history", "/v5/execution/list"


def set_price(venue: BybitVenue, price: float) -> None:
    engine = venue.venue.engine
    command = parse_command({"symbol": "BTC/USDT", "price": price}, engine.catalogue.by_symbol)
    engine.control_market(command, venue.venue.now_ms())


def order(**fields: Any) -> str:
    body = {"category": "spot", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit",
            "qty": "0.001", "price": "30000", **fields}  # fmt: skip
    return json.dumps({k: v for k, v in body.items() if v is not None}, separators=(",", ":"))


def cancel_body(**ids: str) -> str:
    return json.dumps({"category": "spot", "symbol": "BTCUSDT", **ids})


async def post(
    http: aiohttp.ClientSession, venue: BybitVenue, key: SandboxKey, path: str, body: str
) -> dict[str, Any]:
    status, answer, _ = await call(http, venue, key, "POST", path, body)
    assert status == 200
    return answer


async def get(
    http: aiohttp.ClientSession, venue: BybitVenue, key: SandboxKey, path: str, query: str
) -> dict[str, Any]:
    status, answer, _ = await call(http, venue, key, "GET", path, query)
    assert status == 200
    return answer


async def test_order_rules_answer_bybit_codes(
    http: aiohttp.ClientSession, venue: BybitVenue
) -> None:
    set_price(venue, 31000)
    key = venue.add_key()
    cases = {
        10001: [order(category=None), order(category="inverse"), order(orderLinkId="has space"),
                order(orderLinkId="x" * 37), order(side="buy"), order(qty="-1")],
        # linear orders exist (bybit/linear.py), behind a contract permission this key lacks
        10005: [order(category="linear")],
        170137: [order(qty="0.0000015")],  # more decimals than basePrecision
        170134: [order(price="30000.001")],  # more decimals than tickSize
        170140: [order(qty="0.00001"),  # 0.3 USDT: below minOrderAmt
                 order(orderType="Market", price=None, qty="0.5")],  # a market Buy counts USDT
        170131: [order(qty="1")],  # 30000 USDT of 1000
        170136: [order(qty="0.0000001")],  # below minOrderQty, checked first
        170130: [order(symbol="DOGEUSDT", qty="10", price="0.16")],  # listed, not tradable
    }  # fmt: skip
    for expected, bodies in cases.items():
        for body in bodies:
            answer = await post(http, venue, key, CREATE, body)
            assert code(answer) == expected, (body, answer)
            assert answer["result"] == {}
    assert venue.venue.engine.find_account("bybit", key.api_key).orders == {}  # type: ignore[union-attr]

    # a market Buy by value (Bybit's default unit) and by base quantity
    by_value = await post(http, venue, key, CREATE, order(orderType="Market", price=None, qty="31"))
    base = order(orderType="Market", price=None, qty="0.002", marketUnit="baseCoin")
    by_base = await post(http, venue, key, CREATE, base)
    assert code(by_value) == code(by_base) == 0
    rows = (await get(http, venue, key, HISTORY, "category=spot&symbol=BTCUSDT"))["result"]["list"]
    got = {
        r["orderId"]: (r["orderStatus"], r["marketUnit"], r["qty"], r["cumExecQty"]) for r in rows
    }
    assert got == {
        by_value["result"]["orderId"]: ("Filled", "quoteCoin", "31", "0.001"),
        by_base["result"]["orderId"]: ("Filled", "baseCoin", "0.002", "0.002"),
    }

    unknown = await post(http, venue, key, CANCEL, cancel_body(orderLinkId="never-placed"))
    assert (code(unknown), unknown["retMsg"]) == (110001, "Order does not exist.")
    filled_id = by_base["result"]["orderId"]
    filled = await post(http, venue, key, CANCEL, cancel_body(orderId=filled_id))
    assert code(filled) == 110001  # already filled
    no_id = await post(http, venue, key, CANCEL, '{"category":"spot","symbol":"BTCUSDT"}')
    assert code(no_id) == 10001
    week = 7 * 86_400_000
    too_long = await get(http, venue, key, HISTORY, f"category=spot&startTime=0&endTime={week + 1}")
    assert code(too_long) == 10001
    assert code(await get(http, venue, key, REALTIME, "symbol=BTCUSDT")) == 10001  # no category

    read_only = venue.add_key(permissions=("Exchange.ExchangeHistory",))
    assert code(await get(http, venue, read_only, REALTIME, "category=spot")) == 0
    refused = await post(http, venue, read_only, CANCEL,
                         '{"category":"spot","symbol":"BTCUSDT","orderLinkId":"x"}')  # fmt: skip
    assert code(refused) == 10005


async def test_lists_as_bybit_shapes_them(http: aiohttp.ClientSession, venue: BybitVenue) -> None:
    set_price(venue, 31000)
    key = venue.add_key()
    for n in (1, 2, 3):
        assert code(await post(http, venue, key, CREATE, order(orderLinkId=f"bf-{n}"))) == 0
    assert code(await post(http, venue, key, CANCEL, cancel_body(orderLinkId="bf-2"))) == 0
    market = order(orderType="Market", price=None, qty="0.001", marketUnit="baseCoin",
                   orderLinkId="bf-4")  # fmt: skip
    assert code(await post(http, venue, key, CREATE, market)) == 0

    def ids(answer: dict[str, Any]) -> list[str]:
        assert code(answer) == 0, answer
        return [r["orderLinkId"] for r in answer["result"]["list"]]

    q = "category=spot&symbol=BTCUSDT"
    assert ids(await get(http, venue, key, REALTIME, q)) == ["bf-3", "bf-1"]
    assert ids(await get(http, venue, key, REALTIME, f"{q}&openOnly=1")) == ["bf-4", "bf-2"]
    one = await get(http, venue, key, REALTIME, f"{q}&orderLinkId=bf-2")
    assert ids(one) == ["bf-2"]
    row = one["result"]["list"][0]
    assert (row["orderStatus"], row["leavesQty"], row["cancelType"]) == (
        "Cancelled", "0", "CancelByUser")  # fmt: skip
    assert "createType" not in row  # spot rows carry neither createType nor tpslMode
    assert "tpslMode" not in row
    assert ids(await get(http, venue, key, REALTIME, f"{q}&orderLinkId=nope")) == []
    assert ids(await get(http, venue, key, HISTORY, q)) == ["bf-4", "bf-2"]
    assert ids(await get(http, venue, key, HISTORY, f"{q}&orderLinkId=bf-4")) == ["bf-4"]

    # cursor pages: a cursor while more rows follow, "" on the last page
    first = await get(http, venue, key, REALTIME, f"{q}&limit=1")
    cursor = first["result"]["nextPageCursor"]
    assert (ids(first), bool(cursor)) == (["bf-3"], True)
    last = await get(http, venue, key, REALTIME, f"{q}&limit=1&cursor={cursor}")
    assert (ids(last), last["result"]["nextPageCursor"]) == (["bf-1"], "")

    executions = await get(http, venue, key, EXECUTIONS, q)
    (fill,) = executions["result"]["list"]
    assert (fill["orderLinkId"], fill["execType"], fill["execQty"], fill["side"]) == (
        "bf-4", "Trade", "0.001", "Buy")  # fmt: skip
    assert fill["execPrice"] == "31000"
    assert "createType" not in fill
    later = await get(http, venue, key, EXECUTIONS, f"{q}&startTime={int(fill['execTime']) + 1}")
    assert later["result"]["list"] == []


async def test_ccxt_unified_order_methods_read_the_venue(venue: BybitVenue) -> None:
    set_price(venue, 31000)
    key = venue.add_key()
    spec = client_spec(Endpoints(spot=venue.url))
    client = venue.ccxt_client(key, options=spec.options, has=dict(spec.has))
    try:
        await client.load_markets()
        placed = await client.create_order("BTC/USDT", "limit", "buy", 0.001, 30000,
                                           {"clientOrderId": "bf-ccxt-1"})  # fmt: skip
        (listed,) = await client.fetch_open_orders("BTC/USDT")
        assert (listed["id"], listed["clientOrderId"], listed["status"]) == (
            placed["id"], "bf-ccxt-1", "open")  # fmt: skip
        assert (listed["amount"], listed["price"]) == (0.001, 30000)
        await client.cancel_order(placed["id"], "BTC/USDT")
        closed = await client.fetch_canceled_and_closed_orders("BTC/USDT")
        assert [(o["clientOrderId"], o["status"]) for o in closed] == [("bf-ccxt-1", "canceled")]
        bought = await client.create_order("BTC/USDT", "market", "buy", 0.002)
        (trade,) = await client.fetch_my_trades("BTC/USDT")
        assert (trade["order"], trade["side"], trade["amount"], trade["price"]) == (
            bought["id"], "buy", 0.002, 31000)  # fmt: skip
        done = await client.fetch_closed_order(bought["id"], "BTC/USDT")
        assert (done["status"], done["filled"]) == ("closed", 0.002)
        balance = await client.fetch_balance()
        assert (balance["BTC"]["free"], balance["USDT"]["free"]) == (0.002, 1000 - 62)
    finally:
        await client.close()
