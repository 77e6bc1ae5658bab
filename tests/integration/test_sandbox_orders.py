"""The sandbox as a trading venue for live bots (issue 10 item 6), through real ccxt: orders by
client order id (create, fetch, cancel), open and all orders, my trades with maker/taker, the
exchanges' codes for bad precision, min notional, insufficient balance and unknown orders, and the
loopback audit route `GET /__sandbox/orders?api_key=...`."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import ccxt.async_support as ccxt
import pytest

from backfuture_daemon.sandbox import Sandbox
from tests.integration.conftest import Clients

pytestmark = pytest.mark.integration


BAD = ccxt.BadRequest


def _body(exc: BaseException) -> Any:
    """The exchange's own body from a ccxt message "<id> <raw body>"."""
    return json.loads(str(exc).split(" ", 1)[1])


async def _audit(sandbox: Sandbox, query: str) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as s,
        s.get(f"{sandbox.kucoin_futures_url}/__sandbox/orders{query}") as r,
    ):
        return r.status, await r.json()


# ----------------------------------------------------------------------------- MEXC spot


async def test_mexc_orders_by_client_order_id(sandbox: Sandbox, clients: Clients) -> None:
    sandbox.set_market("BTC/USDT", price=100)
    ex = clients.mexc("mx0-it-healthy")
    await ex.load_markets()
    placed = await ex.create_order(
        "BTC/USDT", "limit", "buy", 0.05, 95, {"clientOrderId": "bot-m-0001"}
    )
    found = await ex.fetch_order(None, "BTC/USDT", {"clientOrderId": "bot-m-0001"})
    assert (found["id"], found["clientOrderId"], found["status"]) == (
        placed["id"],
        "bot-m-0001",
        "open",
    )
    assert [o["clientOrderId"] for o in await ex.fetch_open_orders("BTC/USDT")] == ["bot-m-0001"]
    canceled = await ex.cancel_order(None, "BTC/USDT", {"clientOrderId": "bot-m-0001"})
    assert canceled["status"] == "canceled"
    assert canceled["info"]["origClientOrderId"] == "bot-m-0001"
    with pytest.raises(ccxt.BadRequest) as e:  # a second cancel: unknown order
        await ex.cancel_order(None, "BTC/USDT", {"clientOrderId": "bot-m-0001"})
    assert _body(e.value)["code"] == -2011
    with pytest.raises(ccxt.ExchangeError) as e:
        await ex.fetch_order(None, "BTC/USDT", {"clientOrderId": "bot-m-never"})
    assert _body(e.value) == {"code": -2013, "msg": "Order does not exist."}


async def test_mexc_fills_show_in_my_trades_and_all_orders(
    sandbox: Sandbox, clients: Clients
) -> None:
    sandbox.set_market("BTC/USDT", price=100)
    ex = clients.mexc("mx0-it-healthy")
    await ex.load_markets()
    taker = await ex.create_order(
        "BTC/USDT", "market", "buy", 0.02, None, {"clientOrderId": "bot-m-taker"}
    )
    resting = await ex.create_order(
        "BTC/USDT", "limit", "buy", 0.03, 97, {"clientOrderId": "bot-m-maker"}
    )
    sandbox.set_market("BTC/USDT", price=96)
    trades = await ex.fetch_my_trades("BTC/USDT")
    assert [(t["order"], t["takerOrMaker"], t["price"], t["amount"]) for t in trades] == [
        (taker["id"], "taker", 100, 0.02),
        (resting["id"], "maker", 97, 0.03),
    ]
    assert {t["info"]["clientOrderId"] for t in trades} == {"bot-m-taker", "bot-m-maker"}
    only = await ex.fetch_my_trades("BTC/USDT", None, None, {"orderId": resting["id"]})
    assert [t["order"] for t in only] == [resting["id"]]
    everything = await ex.fetch_orders("BTC/USDT")
    assert [(o["clientOrderId"], o["status"]) for o in everything] == [
        ("bot-m-taker", "closed"),
        ("bot-m-maker", "closed"),
    ]


@pytest.mark.parametrize(
    ("params", "code", "msg", "cls"),
    [
        (
            {"quantity": "0.0500001", "price": "95"},
            400,
            "quantity scale is invalid",
            ccxt.BadRequest,
        ),
        ({"quantity": "0.05", "price": "95.001"}, 400, "price scale is invalid", ccxt.BadRequest),
        ({"quantity": "0.000002", "price": "95"}, 30002, None, ccxt.InvalidOrder),
        ({"quantity": "50", "price": "95"}, 30004, "Insufficient position", ccxt.InsufficientFunds),
    ],
)
async def test_mexc_order_rejections(
    sandbox: Sandbox,
    clients: Clients,
    params: dict[str, str],
    code: int,
    msg: str | None,
    cls: type[Exception],
) -> None:
    """Raw requests (ccxt's create_order would round the amount first)."""
    sandbox.set_market("BTC/USDT", price=100)
    ex = clients.mexc("mx0-it-healthy")
    request = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", **params}
    with pytest.raises(cls) as e:
        await ex.spotPrivatePostOrder(request)
    body = _body(e.value)
    assert body["code"] == code
    if msg is not None:
        assert body["msg"] == msg
    assert (await sandbox_orders(sandbox, "mx0-it-healthy")) == []  # nothing accepted


async def sandbox_orders(sandbox: Sandbox, api_key: str) -> list[dict[str, Any]]:
    orders: list[dict[str, Any]] = sandbox.orders_of(api_key)["orders"]
    return orders


# ----------------------------------------------------------------------------- KuCoin spot


@pytest.mark.parametrize("api_key", ["kc-it-healthy", "kc-it-hf"])
async def test_kucoin_fills_and_orders(sandbox: Sandbox, clients: Clients, api_key: str) -> None:
    hf = api_key == "kc-it-hf"
    sandbox.set_market("ETH/USDT", price=100)
    ex = clients.kucoin(api_key, options={"hf": hf})
    await ex.load_markets(False, {"marginables": False})
    taker = await ex.create_order(
        "ETH/USDT", "market", "buy", 0.5, None, {"clientOrderId": f"bot-k-taker-{hf}"}
    )
    resting = await ex.create_order(
        "ETH/USDT", "limit", "buy", 0.25, 98, {"clientOrderId": f"bot-k-maker-{hf}"}
    )
    found = await ex.fetch_order(None, "ETH/USDT", {"clientOrderId": f"bot-k-maker-{hf}"})
    assert (found["id"], found["status"]) == (resting["id"], "open")
    sandbox.set_market("ETH/USDT", price=97.5)
    assert (await ex.fetch_order(resting["id"], "ETH/USDT"))["status"] == "closed"
    trades = await ex.fetch_my_trades("ETH/USDT")
    assert sorted(
        (t["order"], t["takerOrMaker"], t["price"], t["amount"]) for t in trades
    ) == sorted([(taker["id"], "taker", 100, 0.5), (resting["id"], "maker", 98, 0.25)])
    counts = sandbox.request_counts("kucoin")
    assert counts["/api/v1/hf/fills" if hf else "/api/v1/fills"] == 1
    balance = await ex.fetch_balance()
    assert balance["ETH"]["free"] == 0.75
    assert balance["USDT"]["free"] == pytest.approx(1000 - 50 - 24.5)


@pytest.mark.parametrize("family", ["classic", "hf"])
@pytest.mark.parametrize(
    ("fields", "msg", "cls"),
    [
        ({"size": "0.250001", "price": "98"}, "Order size increment invalid.", ccxt.InvalidOrder),
        ({"size": "0.25", "price": "98.001"}, "Price increment invalid.", ccxt.BadRequest),
        ({"size": "0.001", "price": "98"}, "The order amount must exceed 1 USDT", ccxt.BadRequest),
        ({"size": "0.000001", "price": "98"}, "Order size increment invalid.", ccxt.InvalidOrder),
        ({"size": "100", "price": "98"}, "Balance insufficient!", ccxt.InsufficientFunds),
    ],
)
async def test_kucoin_order_rejections(
    sandbox: Sandbox, clients: Clients, family: str, fields: dict[str, str], msg: str, cls: type
) -> None:
    ex = clients.kucoin("kc-it-healthy")
    body = {"clientOid": "bot-k-bad", "side": "buy", "symbol": "ETH-USDT", "type": "limit"}
    post = ex.privatePostHfOrders if family == "hf" else ex.privatePostOrders
    with pytest.raises(cls) as e:
        await post({**body, **fields})
    assert _body(e.value)["msg"] == msg
    assert (await sandbox_orders(sandbox, "kc-it-healthy")) == []


async def test_kucoin_unknown_orders(clients: Clients) -> None:
    ex = clients.kucoin("kc-it-hf", options={"hf": True})
    await ex.load_markets(False, {"marginables": False})
    with pytest.raises(ccxt.OrderNotFound):
        await ex.fetch_order(None, "ETH/USDT", {"clientOrderId": "bot-k-never"})
    with pytest.raises(ccxt.OrderNotFound):
        await ex.cancel_order(None, "ETH/USDT", {"clientOrderId": "bot-k-never"})


# ----------------------------------------------------------------------------- the audit route


async def test_audit_lists_every_order_ever_accepted_for_a_key(
    sandbox: Sandbox, clients: Clients
) -> None:
    sandbox.set_market("BTC/USDT", price=100)
    ex = clients.mexc("mx0-it-healthy")
    await ex.load_markets()
    await ex.create_order("BTC/USDT", "market", "buy", 0.01, None, {"clientOrderId": "a-1"})
    rest = await ex.create_order("BTC/USDT", "limit", "buy", 0.02, 90, {"clientOrderId": "a-2"})
    await ex.create_order("BTC/USDT", "limit", "buy", 0.02, 80, {"clientOrderId": "a-3"})
    await ex.cancel_order(None, "BTC/USDT", {"clientOrderId": "a-3"})
    sandbox.set_market("BTC/USDT", price=85)  # crosses a-2; nobody looks at it through the API

    status, audit = await _audit(sandbox, "?api_key=mx0-it-healthy")
    assert status == 200
    assert audit["exchange"] == "mexc"
    rows = [(o["client_order_id"], o["status"], o["filled"]) for o in audit["orders"]]
    assert rows == [("a-1", "filled", "0.01"), ("a-2", "filled", "0.02"), ("a-3", "canceled", "0")]
    maker = audit["orders"][1]
    assert maker["order_id"] == rest["id"]
    assert [(f["price"], f["amount"], f["liquidity"]) for f in maker["fills"]] == [
        ("90", "0.02", "maker")
    ]
    assert audit["orders"][0]["fills"][0]["liquidity"] == "taker"
    assert "CANARY" not in json.dumps(audit)  # never a secret

    assert audit["positions"] == []
    assert await _audit(sandbox, "?api_key=kc-it-healthy") == (
        200,
        {"exchange": "kucoin", "orders": [], "positions": []},
    )
    status, body = await _audit(sandbox, "?api_key=nope")
    assert (status, body) == (404, {"error": "no such sandbox key"})
    status, body = await _audit(sandbox, "")
    assert status == 400
    assert "api_key" in body["error"]


# ----------------------------------------------------------------------------- lost answers


@pytest.mark.parametrize("venue", ["mexc", "kucoin-hf", "kucoin-classic"])
async def test_accept_then_timeout_places_the_order_and_withholds_the_answer(
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
    faults = sandbox.faults(venue.split("-")[0])
    faults.accept_then_timeout = True
    ex.timeout = 300
    with pytest.raises(ccxt.RequestTimeout):
        await ex.create_order(symbol, "limit", "buy", 0.05, 95, {"clientOrderId": "lost-1"})
    with pytest.raises(ccxt.InsufficientFunds):  # a refusal is answered as usual
        await ex.create_order(symbol, "limit", "buy", 50, 95, {"clientOrderId": "lost-2"})
    faults.accept_then_timeout = False
    found = await ex.fetch_order(None, symbol, {"clientOrderId": "lost-1"})  # it was placed
    assert found["status"] == "open"
    assert [o["client_order_id"] for o in sandbox.orders_of(key)["orders"]] == ["lost-1"]

    faults.drop_cancel_answer = True
    with pytest.raises(ccxt.RequestTimeout):
        await ex.cancel_order(found["id"], symbol)
    faults.drop_cancel_answer = False
    assert (await ex.fetch_order(found["id"], symbol))["status"] == "canceled"  # it was done


async def test_order_faults_are_switched_through_the_admin_route(sandbox: Sandbox) -> None:
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            sandbox.kucoin_futures_url + "/__sandbox/faults",
            data=json.dumps({"accept_then_timeout": True, "drop_cancel_answer": True}),
        ) as r,
    ):
        assert r.status == 200
    assert sandbox.faults("kucoin").accept_then_timeout
    assert sandbox.faults("kucoin").drop_cancel_answer
    assert not sandbox.faults("mexc").accept_then_timeout
