"""KuCoin spot (classic and HF) and futures in the sandbox, through the real ccxt async clients and
hand-signed aiohttp requests: markets, balances, masked key info, orders, and every gateway
rejection with KuCoin's real code and HTTP status, in the gateway's check order."""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp
import ccxt.async_support as ccxt
import pytest

from backfuture_daemon.sandbox import Sandbox, signing
from tests.integration.conftest import Clients

pytestmark = pytest.mark.integration


def _body(exc: BaseException) -> dict[str, Any]:
    return json.loads(str(exc).split(" ", 1)[1])  # type: ignore[no-any-return]


async def _signed(
    sb: Sandbox,
    api_key: str,
    path: str = "/api/v1/accounts?type=trade",
    *,
    method: str = "GET",
    body: str = "",
    timestamp: int | None = None,
    passphrase: str | None = None,
    tamper: bool = False,
    drop: str | None = None,
) -> tuple[int, dict[str, Any]]:
    key = sb.keys.get("kucoin", api_key)
    secret = key.secret_bytes if key else b"unknown"
    ts = str(timestamp if timestamp is not None else int(time.time() * 1000))
    sign = signing.sign_kucoin(secret, ts, method, path, body)
    if tamper:  # off by one character (before the base64 padding)
        i = sign.rstrip("=").__len__() - 1
        sign = sign[:i] + ("A" if sign[i] != "A" else "B") + sign[i + 1 :]
    pw = passphrase if passphrase is not None else (key.passphrase if key else "x")
    headers = {
        "KC-API-KEY": api_key,
        "KC-API-SIGN": sign,
        "KC-API-TIMESTAMP": ts,
        "KC-API-PASSPHRASE": signing.sign_kucoin_passphrase(secret, pw or ""),
        "KC-API-KEY-VERSION": "2",
        "Content-Type": "application/json",
    }
    if drop:
        del headers[drop]
    async with (
        aiohttp.ClientSession() as s,
        s.request(method, sb.kucoin_url + path, headers=headers, data=body or None) as r,
    ):
        return r.status, await r.json(content_type=None)


async def test_load_markets_minimal_is_two_public_calls(sandbox: Sandbox, clients: Clients) -> None:
    ex = clients.kucoin("kc-it-healthy")
    markets = await ex.load_markets(False, {"marginables": False})
    assert set(markets) == {"BTC/USDT", "ETH/USDT", "SOL/USDT", "DOGE/USDT"}
    assert markets["DOGE/USDT"]["active"] is False  # enableTrading false
    assert sandbox.request_counts("kucoin") == {"/api/v3/currencies": 1, "/api/v2/symbols": 1}
    assert abs(await ex.fetch_time() - time.time() * 1000) < 5000
    assert (await ex.fetch_status())["status"] == "ok"
    assert 30000 < (await ex.fetch_ticker("BTC/USDT"))["last"] < 130000


async def test_load_markets_default_options(sandbox: Sandbox, clients: Clients) -> None:
    """ccxt's default load_markets with credentials: account mode, margin, HF status, futures."""
    ex = clients.kucoin("kc-it-healthy", minimal=False)
    markets = await ex.load_markets()
    assert {"BTC/USDT", "BTC/USDT:USDT", "ETH/USDT:USDT"} <= set(markets)
    counts = sandbox.request_counts()
    for path in (
        "/api/ua/v1/account/mode",
        "/api/v3/margin/symbols",
        "/api/v1/isolated/symbols",
        "/api/v1/hf/accounts/opened",
        "/api/v1/contracts/active",
        "/api/v1/market/allTickers",
    ):
        assert counts.get(path) == 1, path
    assert ex.options["hf"] is False


async def test_balance_and_masked_key_info(clients: Clients) -> None:
    ex = clients.kucoin("kc-it-healthy")
    assert (await ex.fetch_balance())["USDT"]["free"] == 1000
    info = (await ex.privateGetUserApiKey())["data"]
    assert info["apiKey"] == "kc-it-healthy"
    assert info["apiVersion"] == 3
    assert set(info["permission"].split(",")) == {"General", "Spot"}
    assert info["ipWhitelist"] == "127.**.1,203.**.10"  # KuCoin masks the middle octets
    unrestricted = (await clients.kucoin("kc-it-hf").privateGetUserApiKey())["data"]
    assert "ipWhitelist" not in unrestricted
    withdraw = (await clients.kucoin("kc-it-withdraw").privateGetUserApiKey())["data"]
    assert "Transfer" in withdraw["permission"].split(",")


@pytest.mark.parametrize("api_key", ["kc-it-healthy", "kc-it-hf"])
async def test_order_lifecycle_classic_and_hf(
    sandbox: Sandbox, clients: Clients, api_key: str
) -> None:
    hf = api_key == "kc-it-hf"
    ex = clients.kucoin(api_key, options={"hf": hf})
    await ex.load_markets(False, {"marginables": False})
    last = (await ex.fetch_ticker("BTC/USDT"))["last"]
    await ex.create_order("BTC/USDT", "limit", "buy", 0.001, round(last * 0.5, 2), {"test": True})
    assert await ex.fetch_open_orders("BTC/USDT") == []

    order = await ex.create_order("BTC/USDT", "limit", "buy", 0.001, round(last * 0.5, 2))
    assert (await ex.fetch_order(order["id"], "BTC/USDT"))["status"] == "open"
    assert [o["id"] for o in await ex.fetch_open_orders("BTC/USDT")] == [order["id"]]
    assert (await ex.fetch_balance())["USDT"]["used"] > 0
    await ex.cancel_order(order["id"], "BTC/USDT")
    assert (await ex.fetch_order(order["id"], "BTC/USDT"))["status"] == "canceled"

    market = await ex.create_order("BTC/USDT", "market", "buy", 0.001)
    filled = await ex.fetch_order(market["id"], "BTC/USDT")
    assert filled["status"] == "closed"
    assert filled["filled"] == 0.001
    assert (await ex.fetch_balance())["BTC"]["free"] == 0.001

    family = "/api/v1/hf/orders" if hf else "/api/v1/orders"
    counts = sandbox.request_counts("kucoin")
    assert counts[family] >= 2
    assert counts[f"{family}/test"] == 1

    with pytest.raises(ccxt.OrderNotFound):
        await ex.cancel_order("6705f5c311545b00deadbeef", "BTC/USDT")
    with pytest.raises(ccxt.InsufficientFunds):
        await ex.create_order("BTC/USDT", "limit", "buy", 1, round(last, 2))
    with pytest.raises(ccxt.ExchangeError) as e:  # listed, trading disabled
        await ex.create_order("DOGE/USDT", "limit", "buy", 100, 0.1)
    assert _body(e.value)["code"] == "126009"


async def test_hf_account_found_by_ccxt_migration_check(clients: Clients) -> None:
    ex = clients.kucoin("kc-it-hf", minimal=False)
    await ex.load_markets()
    assert ex.options["hf"] is True
    assert (await ex.fetch_balance())["USDT"]["free"] == 1000  # type=trade_hf


async def test_signature_off_by_one_is_400005(sandbox: Sandbox) -> None:
    assert (await _signed(sandbox, "kc-it-healthy"))[0] == 200  # the hand signer is right...
    status, body = await _signed(sandbox, "kc-it-healthy", tamper=True)
    assert (status, body) == (401, {"code": "400005", "msg": "Invalid KC-API-SIGN."})
    # the signature covers the body too
    status, body = await _signed(
        sandbox, "kc-it-healthy", "/api/v1/orders/test", method="POST", body='{"a":1}', tamper=True
    )
    assert body["code"] == "400005"


async def test_stale_timestamp_is_400002(sandbox: Sandbox, clients: Clients) -> None:
    stale = int(time.time() * 1000) - 6_000
    status, body = await _signed(sandbox, "kc-it-healthy", timestamp=stale)
    assert (status, body) == (401, {"code": "400002", "msg": "Invalid KC-API-TIMESTAMP."})
    sandbox.faults("kucoin").clock_offset_ms = -30_000
    with pytest.raises(ccxt.InvalidNonce):
        await clients.kucoin("kc-it-healthy").fetch_balance()


async def test_gateway_codes_and_check_order(sandbox: Sandbox) -> None:
    stale = int(time.time() * 1000) - 60_000
    status, body = await _signed(sandbox, "kc-it-healthy", drop="KC-API-SIGN")
    assert (status, body["code"]) == (401, "400001")
    status, body = await _signed(sandbox, "kc-nope", timestamp=stale, tamper=True)
    assert (status, body) == (401, {"code": "400003", "msg": "KC-API-KEY does not exist."})
    status, body = await _signed(
        sandbox, "kc-it-healthy", passphrase="wrong", timestamp=stale, tamper=True
    )
    assert (status, body) == (401, {"code": "400004", "msg": "Invalid KC-API-PASSPHRASE."})
    status, body = await _signed(sandbox, "kc-it-ip-other", timestamp=stale, tamper=True)
    assert body["code"] == "400002"  # timestamp before signature (reference §9)
    status, body = await _signed(sandbox, "kc-it-ip-other", tamper=True)
    assert body["code"] == "400005"
    status, body = await _signed(sandbox, "kc-it-ip-other")
    assert (status, body) == (
        403,
        {"code": "400006", "msg": "Invalid request IP, the current client IP is: 127.0.0.1"},
    )
    status, body = await _signed(
        sandbox, "kc-it-general-only", "/api/v1/orders/test", method="POST", body="{}"
    )
    assert (status, body) == (
        403,
        {"code": "400007", "msg": "Access denied, require more permission."},
    )
    status, body = await _signed(sandbox, "kc-it-frozen")
    assert (status, body) == (403, {"code": "411100", "msg": "User are frozen"})


async def test_key_errors_through_ccxt(sandbox: Sandbox, clients: Clients) -> None:
    cases: list[tuple[Any, type[Exception], str]] = [
        (clients.kucoin("kc-nope", "s", "p"), ccxt.AuthenticationError, "400003"),
        (clients.kucoin("kc-it-healthy", passphrase="wrong"), ccxt.AuthenticationError, "400004"),
        (clients.kucoin("kc-it-healthy", secret="wrong"), ccxt.AuthenticationError, "400004"),
        (clients.kucoin("kc-it-ip-other"), ccxt.AuthenticationError, "400006"),
        (clients.kucoin("kc-it-frozen"), ccxt.AccountSuspended, "411100"),
    ]
    for ex, cls, code in cases:
        with pytest.raises(cls) as e:
            await ex.fetch_balance()
        assert _body(e.value)["code"] == code
    ok = clients.kucoin("kc-it-ip-other", source_ip="127.0.0.2")
    assert (await ok.fetch_balance())["USDT"]["free"] == 1000
    general = clients.kucoin("kc-it-general-only")
    await general.load_markets(False, {"marginables": False})
    with pytest.raises(ccxt.AuthenticationError) as e:  # ccxt's class for 400007 (§0.5)
        await general.create_order("BTC/USDT", "limit", "buy", 0.001, 20000, {"test": True})
    assert _body(e.value)["code"] == "400007"


async def test_futures_host(sandbox: Sandbox, clients: Clients) -> None:
    kf = clients.kucoin_futures("kc-it-futures")
    markets = await kf.load_markets()
    assert {"BTC/USDT:USDT", "ETH/USDT:USDT"} <= set(markets)
    assert markets["BTC/USDT:USDT"]["id"] == "XBTUSDTM"
    assert (await kf.fetch_balance())["USDT"]["free"] == 1000
    assert abs(await kf.fetch_time() - time.time() * 1000) < 5000
    last = (await kf.fetch_ticker("BTC/USDT:USDT"))["last"]
    await kf.create_order("BTC/USDT:USDT", "limit", "buy", 1, round(last * 0.5), {"test": True})
    order = await kf.create_order("BTC/USDT:USDT", "limit", "buy", 1, round(last * 0.5))
    assert (await kf.fetch_order(order["id"], "BTC/USDT:USDT"))["status"] == "open"
    assert [o["id"] for o in await kf.fetch_open_orders("BTC/USDT:USDT")] == [order["id"]]
    await kf.cancel_order(order["id"], "BTC/USDT:USDT")
    assert (await kf.fetch_order(order["id"], "BTC/USDT:USDT"))["status"] == "canceled"
    assert sandbox.request_counts("kucoinfutures")["/api/v1/orders/test"] == 1

    spot_key = clients.kucoin_futures("kc-it-healthy")
    await spot_key.load_markets()
    assert (await spot_key.fetch_balance())["USDT"]["free"] == 1000  # reading needs General
    with pytest.raises(ccxt.AuthenticationError) as e:  # trading needs Futures
        await spot_key.create_order("BTC/USDT:USDT", "limit", "buy", 1, 20000, {"test": True})
    assert _body(e.value)["code"] == "400007"


async def test_market_data(clients: Clients) -> None:
    ex = clients.kucoin()
    await ex.load_markets(False, {"marginables": False})
    candles = await ex.fetch_ohlcv("ETH/USDT", "5m", limit=12)
    assert len(candles) == 12
    assert candles[0][0] < candles[-1][0]  # ccxt re-sorts KuCoin's newest-first rows
    book = await ex.fetch_order_book("ETH/USDT", 20)
    assert len(book["bids"]) == 20
    assert book["bids"][0][0] < book["asks"][0][0]


@pytest.mark.parametrize("flavour", ["classic", "hf", "futures"])
async def test_orders_by_client_order_id(clients: Clients, flavour: str) -> None:
    """Live bots find their orders again by client order id after a restart."""
    if flavour == "futures":
        ex, symbol, amount = clients.kucoin_futures("kc-it-futures"), "BTC/USDT:USDT", 1
        await ex.load_markets()
    else:
        api_key = "kc-it-hf" if flavour == "hf" else "kc-it-healthy"
        ex = clients.kucoin(api_key, options={"hf": flavour == "hf"})
        symbol, amount = "BTC/USDT", 0.001
        await ex.load_markets(False, {"marginables": False})
    price = round((await ex.fetch_ticker(symbol))["last"] * 0.5)
    await ex.create_order(
        symbol, "limit", "buy", amount, price, {"clientOrderId": f"bot-{flavour}-1"}
    )
    found = await ex.fetch_order(None, symbol, {"clientOrderId": f"bot-{flavour}-1"})
    assert found["clientOrderId"] == f"bot-{flavour}-1"
    assert found["status"] == "open"
    await ex.cancel_order(None, symbol, {"clientOrderId": f"bot-{flavour}-1"})
    assert (await ex.fetch_order(found["id"], symbol))["status"] == "canceled"
