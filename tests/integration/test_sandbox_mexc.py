"""MEXC spot v3 + contract v1 in the sandbox, through the real ccxt async client and hand-signed
aiohttp requests: markets, balances, key info, orders, and every gateway rejection with MEXC's
real code, in MEXC's check order."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import ccxt.async_support as ccxt
import pytest

from backfuture_daemon.sandbox import Sandbox, signing
from tests.integration.conftest import MEXC_CONTRACT, Clients

pytestmark = pytest.mark.integration


def _code(exc: BaseException) -> Any:
    """The exchange's own code from a ccxt message "<id> <raw body>"."""
    return json.loads(str(exc).split(" ", 1)[1])["code"]


async def _signed(
    sb: Sandbox,
    method: str,
    path: str,
    api_key: str,
    secret: str,
    params: dict[str, Any] | None = None,
    *,
    timestamp: int | None = None,
    tamper: bool = False,
) -> tuple[int, dict[str, Any]]:
    query = dict(params or {})
    query["timestamp"] = timestamp if timestamp is not None else int(time.time() * 1000)
    query["recvWindow"] = query.get("recvWindow", 5000)
    qs = urlencode(query, quote_via=quote)
    sig = signing.sign_mexc_spot(secret.encode(), qs)
    if tamper:  # off by one character
        sig = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    url = f"{sb.mexc_url}/api/v3/{path}?{qs}&signature={sig}"
    async with (
        aiohttp.ClientSession() as s,
        s.request(method, url, headers={"X-MEXC-APIKEY": api_key}) as r,
    ):
        return r.status, await r.json(content_type=None)


async def test_load_markets_and_public(sandbox: Sandbox, clients: Clients) -> None:
    ex = clients.mexc("mx0-it-healthy")
    markets = await ex.load_markets()
    assert {"BTC/USDT", "ETH/USDT", "SOL/USDT", "DOGE/USDT", "BTC/USDT:USDT"} <= set(markets)
    assert markets["BTC/USDT"]["active"] is True
    assert markets["DOGE/USDT"]["active"] is False  # listed, isSpotTradingAllowed false
    assert markets["BTC/USDT:USDT"]["swap"] is True
    assert abs(await ex.fetch_time() - time.time() * 1000) < 5000
    assert (await ex.fetch_status())["status"] == "ok"
    ticker = await ex.fetch_ticker("BTC/USDT")
    assert 30000 < ticker["last"] < 130000
    async with (
        aiohttp.ClientSession() as s,
        s.get(f"{sandbox.mexc_url}/api/v3/defaultSymbols") as r,
    ):
        body = await r.json()
    assert "BTCUSDT" in body["data"]
    assert "DOGEUSDT" not in body["data"]
    # load_markets is public only (no capital/config/getall): exchangeInfo + contract/detail.
    assert set(sandbox.request_counts("mexc")) >= {
        "/api/v3/exchangeInfo",
        "/api/v1/contract/detail",
    }
    assert "/api/v3/capital/config/getall" not in sandbox.request_counts()


async def test_balance_and_key_info(clients: Clients) -> None:
    ex = clients.mexc("mx0-it-healthy")
    balance = await ex.fetch_balance()
    assert balance["USDT"]["free"] == 1000
    info = await ex.spotPrivateGetApiKeyInfo({"accessKey": "mx0-it-healthy"})
    assert info["permissions"].split(",") == sorted(
        ["SPOT_ACCOUNT_READ", "SPOT_DEAL_READ", "SPOT_DEAL_WRITE"]
    )
    assert info["ipWhiteList"] == "127.0.0.1"
    assert info["status"] == "VALID"

    unbound = clients.mexc("mx0-it-no-whitelist")
    info = await unbound.spotPrivateGetApiKeyInfo({"accessKey": "mx0-it-no-whitelist"})
    assert info["ipWhiteList"] == ""
    assert info["remainingValidity"] == 90

    expiring = clients.mexc("mx0-it-expiring")
    info = await expiring.spotPrivateGetApiKeyInfo({"accessKey": "mx0-it-expiring"})
    assert info["remainingValidity"] == 5

    withdraw = clients.mexc("mx0-it-withdraw")
    info = await withdraw.spotPrivateGetApiKeyInfo({"accessKey": "mx0-it-withdraw"})
    assert "SPOT_WITHDRAW_WRITE" in info["permissions"].split(",")


async def test_order_lifecycle(sandbox: Sandbox, clients: Clients) -> None:
    ex = clients.mexc("mx0-it-healthy")
    await ex.load_markets()
    last = (await ex.fetch_ticker("BTC/USDT"))["last"]

    # order/test validates and places nothing
    await ex.create_order("BTC/USDT", "limit", "buy", 0.001, round(last * 0.5, 2), {"test": True})
    assert await ex.fetch_open_orders("BTC/USDT") == []

    order = await ex.create_order("BTC/USDT", "limit", "buy", 0.001, round(last * 0.5, 2))
    fetched = await ex.fetch_order(order["id"], "BTC/USDT")
    assert fetched["status"] == "open"
    assert fetched["amount"] == 0.001
    assert [o["id"] for o in await ex.fetch_open_orders("BTC/USDT")] == [order["id"]]
    assert (await ex.fetch_balance())["USDT"]["used"] > 0  # funds locked while resting
    canceled = await ex.cancel_order(order["id"], "BTC/USDT")
    assert canceled["status"] == "canceled"
    assert (await ex.fetch_balance())["USDT"]["free"] == 1000

    market = await ex.create_order("BTC/USDT", "market", "buy", 0.001)
    filled = await ex.fetch_order(market["id"], "BTC/USDT")
    assert filled["status"] == "closed"
    assert filled["filled"] == 0.001
    balance = await ex.fetch_balance()
    assert balance["BTC"]["free"] == 0.001
    assert balance["USDT"]["free"] < 1000

    with pytest.raises(ccxt.BadRequest) as e:  # -2011: unknown order on cancel
        await ex.cancel_order("C02__1", "BTC/USDT")
    assert _code(e.value) == -2011
    with pytest.raises(ccxt.InsufficientFunds):
        await ex.create_order("BTC/USDT", "limit", "buy", 1, round(last, 2))
    with pytest.raises(ccxt.BadSymbol) as e:  # listed, but not API-tradable
        await ex.create_order("DOGE/USDT", "limit", "buy", 100, 0.1)
    assert _code(e.value) == 10007


async def test_resting_limit_order_fills_when_price_crosses(
    sandbox: Sandbox, clients: Clients
) -> None:
    ex = clients.mexc("mx0-it-healthy")
    await ex.load_markets()
    feed = sandbox.engine.feed

    def set_server_time(t_ms: int) -> None:
        # Move the sandbox clock; keep the client's clock in step with it (timeDifference).
        offset = t_ms - int(time.time() * 1000)
        sandbox.faults("mexc").clock_offset_ms = offset
        ex.options["timeDifference"] = -offset

    t0 = 1_800_000_000_000  # a fixed instant: the seeded price path is then known
    low_at = min(range(t0 + 60_000, t0 + 1_800_000, 1000), key=lambda t: feed.price("BTC/USDT", t))
    limit = feed.price("BTC/USDT", low_at)
    assert limit < feed.price("BTC/USDT", t0)  # the order rests when placed at t0
    set_server_time(t0)
    order = await ex.create_order("BTC/USDT", "limit", "buy", 0.001, float(limit))
    assert (await ex.fetch_order(order["id"], "BTC/USDT"))["status"] == "open"
    set_server_time(low_at - 2_000)
    assert (await ex.fetch_order(order["id"], "BTC/USDT"))["status"] == "open"
    set_server_time(t0 + 1_805_000)
    fetched = await ex.fetch_order(order["id"], "BTC/USDT")
    assert fetched["status"] == "closed"
    assert fetched["average"] == float(limit)  # a maker fill at its own price
    assert fetched["lastUpdateTimestamp"] == low_at


async def test_signature_off_by_one_is_700002(sandbox: Sandbox) -> None:
    secret = sandbox.keys.get("mexc", "mx0-it-healthy").api_secret  # type: ignore[union-attr]
    status, body = await _signed(sandbox, "GET", "account", "mx0-it-healthy", secret)
    assert status == 200
    assert "balances" in body
    status, body = await _signed(sandbox, "GET", "account", "mx0-it-healthy", secret, tamper=True)
    assert (status, body) == (
        400,
        {"code": 700002, "msg": "Signature for this request is not valid."},
    )


async def test_stale_timestamp_is_700003(sandbox: Sandbox, clients: Clients) -> None:
    secret = sandbox.keys.get("mexc", "mx0-it-healthy").api_secret  # type: ignore[union-attr]
    stale = int(time.time() * 1000) - 10_000
    status, body = await _signed(
        sandbox, "GET", "account", "mx0-it-healthy", secret, timestamp=stale
    )
    assert status == 400
    assert body["code"] == 700003
    status, body = await _signed(
        sandbox, "GET", "account", "mx0-it-healthy", secret, {"recvWindow": 70000}
    )
    assert status == 400
    assert body["code"] == 700005
    # A server clock ahead of the client: ccxt's own timestamps look stale -> InvalidNonce.
    sandbox.faults("mexc").clock_offset_ms = 30_000
    with pytest.raises(ccxt.InvalidNonce) as e:
        await clients.mexc("mx0-it-healthy").fetch_balance()
    assert _code(e.value) == 700003


async def test_check_order_key_then_signature_then_time_then_ip(sandbox: Sandbox) -> None:
    stale = int(time.time() * 1000) - 60_000
    # unknown key wins over everything else
    status, body = await _signed(
        sandbox, "GET", "account", "mx0-nope", "x", timestamp=stale, tamper=True
    )
    assert (status, body["code"]) == (400, 10072)
    # a bad signature wins over a stale timestamp and a disallowed IP
    secret = sandbox.keys.get("mexc", "mx0-it-ip-other").api_secret  # type: ignore[union-attr]
    status, body = await _signed(
        sandbox, "GET", "account", "mx0-it-ip-other", secret, timestamp=stale, tamper=True
    )
    assert body["code"] == 700002
    status, body = await _signed(
        sandbox, "GET", "account", "mx0-it-ip-other", secret, timestamp=stale
    )
    assert body["code"] == 700003
    status, body = await _signed(sandbox, "GET", "account", "mx0-it-ip-other", secret)
    assert body == {"code": 700006, "msg": "IP [127.0.0.1] not in the ip white list"}


async def test_key_errors_through_ccxt(sandbox: Sandbox, clients: Clients) -> None:
    with pytest.raises(ccxt.BadRequest) as e:  # ccxt's class for 10072 (reference §0.5)
        await clients.mexc("mx0-unknown", "whatever").fetch_balance()
    assert _code(e.value) == 10072
    with pytest.raises(ccxt.AuthenticationError) as e:
        await clients.mexc("mx0-it-healthy", "wrong-secret").fetch_balance()
    assert _code(e.value) == 700002
    with pytest.raises(ccxt.AuthenticationError) as e:  # 700007: scope missing
        await clients.mexc("mx0-it-no-read").fetch_balance()
    assert _code(e.value) == 700007
    read_only = clients.mexc("mx0-it-read-only")
    await read_only.load_markets()
    assert (await read_only.fetch_balance())["USDT"]["free"] == 1000
    with pytest.raises(ccxt.AuthenticationError) as e:  # trade probe on a read-only key
        await read_only.create_order("BTC/USDT", "limit", "buy", 0.001, 20000, {"test": True})
    assert _code(e.value) == 700007
    with pytest.raises(ccxt.ExchangeError) as e:
        await clients.mexc("mx0-it-frozen").fetch_balance()
    assert _code(e.value) == 60005
    # expiry: a key past its validity is an invalid key
    sandbox.update_key("mx0-it-expiring", expires_in_days=0)
    with pytest.raises(ccxt.BadRequest) as e:
        await clients.mexc("mx0-it-expiring").fetch_balance()
    assert _code(e.value) == 10072


async def test_ip_whitelist_uses_the_real_peer_address(sandbox: Sandbox, clients: Clients) -> None:
    with pytest.raises(ccxt.BadRequest) as e:  # ccxt's class for 700006
        await clients.mexc("mx0-it-ip-other").fetch_balance()
    assert json.loads(str(e.value).split(" ", 1)[1]) == {
        "code": 700006,
        "msg": "IP [127.0.0.1] not in the ip white list",
    }
    from_other_ip = clients.mexc("mx0-it-ip-other", source_ip="127.0.0.2")
    assert (await from_other_ip.fetch_balance())["USDT"]["free"] == 1000
    # the whitelisted key rejects the other address
    with pytest.raises(ccxt.BadRequest) as e:
        await clients.mexc("mx0-it-healthy", source_ip="127.0.0.3").fetch_balance()
    assert "IP [127.0.0.3]" in str(e.value)
    sandbox.update_key("mx0-it-healthy", ip_whitelist=["127.0.0.1", "127.0.0.3"])
    assert (await clients.mexc("mx0-it-healthy", source_ip="127.0.0.3").fetch_balance())["USDT"]


async def test_contract_host(sandbox: Sandbox, clients: Clients) -> None:
    futures = clients.mexc("mx0-it-futures")
    await futures.load_markets()
    assert (await futures.fetch_balance({"type": "swap"}))["USDT"]["free"] == 1000
    assert await futures.fetch_time({"type": "swap"}) > 0
    assert await futures.fetch_open_orders("BTC/USDT:USDT") == []
    with pytest.raises(ccxt.InvalidOrder) as e:  # MEXC: futures orders by API are disabled
        await futures.create_order("BTC/USDT:USDT", "limit", "buy", 1, 30000, {"openType": 2})
    assert json.loads(str(e.value).split(" ", 1)[1]) == {
        "success": False,
        "code": 1002,
        "message": "Contract not allow place order!",
    }
    sandbox.faults("mexc").mexc_futures_orders_disabled = False
    order = await futures.create_order("BTC/USDT:USDT", "limit", "buy", 1, 30000, {"openType": 2})
    assert order["id"]

    spot_only = clients.mexc("mx0-it-healthy")
    with pytest.raises(ccxt.PermissionDenied) as e:
        await spot_only.fetch_balance({"type": "swap"})
    assert _code(e.value) == 701
    with pytest.raises(ccxt.AuthenticationError) as e:
        await clients.mexc("mx0-it-futures", "bad").fetch_balance({"type": "swap"})
    assert _code(e.value) == 602
    with pytest.raises(ccxt.PermissionDenied) as e:
        await clients.mexc("mx0-it-ip-other").fetch_balance({"type": "swap"})
    assert _code(e.value) == 406  # IP is checked before scope (701)
    sandbox.faults("mexc").clock_offset_ms = 60_000
    with pytest.raises(ccxt.BadRequest) as e:
        await futures.fetch_balance({"type": "swap"})
    assert _code(e.value) == 513


async def test_contract_signature_off_by_one_is_602(sandbox: Sandbox) -> None:
    key = sandbox.keys.get("mexc", "mx0-it-futures")
    assert key is not None
    ts = str(int(time.time() * 1000))
    good = signing.sign_mexc_contract(key.secret_bytes, key.api_key, ts, "")
    url = f"{sandbox.mexc_url}/api/v1/private/account/assets"
    async with aiohttp.ClientSession() as s:
        for sig, success in ((good, True), (good[:-1] + ("0" if good[-1] != "0" else "1"), False)):
            headers = {"ApiKey": key.api_key, "Request-Time": ts, "Signature": sig}
            async with s.get(url, headers=headers) as r:
                body = await r.json()
            assert body["success"] is success
            if not success:
                assert (r.status, body["code"]) == (200, 602)


async def test_market_data_moves_with_the_clock(sandbox: Sandbox, clients: Clients) -> None:
    ex = clients.mexc()
    await ex.load_markets()
    candles = await ex.fetch_ohlcv("BTC/USDT", "1m", limit=30)
    assert len(candles) == 30
    assert all(c[3] <= min(c[1], c[4]) and c[2] >= max(c[1], c[4]) for c in candles)
    assert len({c[4] for c in candles}) > 1  # the price moves
    book = await ex.fetch_order_book("BTC/USDT", 20)
    assert book["bids"][0][0] < book["asks"][0][0]
    before = (await ex.fetch_ticker("ETH/USDT"))["last"]
    sandbox.faults("mexc").clock_offset_ms = 3_600_000
    assert (await ex.fetch_ticker("ETH/USDT"))["last"] != before


async def test_post_api_key_info_replaces_the_whitelist(sandbox: Sandbox, clients: Clients) -> None:
    """The call the daemon must never make: served faithfully, and visible in the counter."""
    ex = clients.mexc("mx0-it-healthy")
    answer = await ex.spotPrivatePostApiKeyInfo(
        {"apiKey": "mx0-it-healthy", "ipWhiteList": "127.0.0.1,198.51.100.7"}
    )
    assert answer["ipWhiteList"] == "127.0.0.1,198.51.100.7"
    assert sandbox.keys.get("mexc", "mx0-it-healthy").ip_whitelist == (  # type: ignore[union-attr]
        "127.0.0.1",
        "198.51.100.7",
    )
    assert sandbox.request_counts()["/api/v3/apiKeyInfo"] == 1


async def test_contract_host_codes(sandbox: Sandbox, clients: Clients) -> None:
    async def code_of(ex: Any, call: Any, cls: type[Exception]) -> Any:
        with pytest.raises(cls) as e:
            await call(ex)
        return _code(e.value)

    def assets(ex: Any) -> Any:
        return ex.contractPrivateGetAccountAssets()

    def open_orders(ex: Any) -> Any:
        return ex.contractPrivateGetOrderListOpenOrders()

    def create(ex: Any) -> Any:
        body = {"symbol": "BTC_USDT", "vol": 1, "type": 1, "openType": 2, "price": 30000, "side": 1}
        return ex.contractPrivatePostOrderCreate(body)

    assert await code_of(clients.mexc("mx0-nope", "x"), assets, ccxt.AuthenticationError) == 401
    sandbox.update_key("mx0-it-futures", expires_in_days=0)
    assert await code_of(clients.mexc("mx0-it-futures"), assets, ccxt.AuthenticationError) == 402
    sandbox.update_key("mx0-it-futures", expires_in_days=None)
    sandbox.update_key("mx0-it-futures", permissions=["CONTRACT_ACCOUNT_READ"])
    futures = clients.mexc("mx0-it-futures")
    assert (await assets(futures))["success"] is True
    assert await code_of(futures, open_orders, ccxt.PermissionDenied) == 703
    assert await code_of(futures, create, ccxt.PermissionDenied) == 704
    sandbox.update_key("mx0-it-futures", permissions=sorted(MEXC_CONTRACT))
    assert await code_of(futures, create, ccxt.InvalidOrder) == 1002
    sandbox.faults("mexc").rate_limit = True
    assert await code_of(futures, assets, ccxt.RateLimitExceeded) == 510


async def test_orders_by_client_order_id(clients: Clients) -> None:
    ex = clients.mexc("mx0-it-healthy")
    await ex.load_markets()
    price = round((await ex.fetch_ticker("BTC/USDT"))["last"] * 0.5, 2)
    await ex.create_order("BTC/USDT", "limit", "buy", 0.001, price, {"clientOrderId": "bot-1"})
    found = await ex.fetch_order(None, "BTC/USDT", {"clientOrderId": "bot-1"})
    assert found["clientOrderId"] == "bot-1"
    assert found["status"] == "open"
    await ex.cancel_order(None, "BTC/USDT", {"clientOrderId": "bot-1"})
    assert (await ex.fetch_order(found["id"], "BTC/USDT"))["status"] == "canceled"
