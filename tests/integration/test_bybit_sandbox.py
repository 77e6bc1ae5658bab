"""The Bybit venue on the wire: signatures verified over the bytes as received (any parameter
order, encoding, JSON spacing), the gateway's check order and Bybit's HTTP 200 + retCode bodies
and rate-limit headers, query-api's fields, and ccxt reading markets and quotes through it with
only public calls. Hand-made requests use sandbox/bybit/signing.sign.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import ccxt
import pytest
from yarl import URL

from backfuture_daemon.configuration.models import Endpoints
from backfuture_daemon.exchanges.bybit import client_spec
from backfuture_daemon.exchanges.classify import classify_error
from backfuture_daemon.health import ErrorClass as E
from backfuture_daemon.sandbox.bybit.signing import sign
from backfuture_daemon.sandbox.keys import SandboxKey
from tests.integration.bybit_support import BybitVenue
from tests.integration.venue_support import venue_fixture

pytestmark = pytest.mark.integration
venue = venue_fixture(BybitVenue)


async def call(
    http: aiohttp.ClientSession,
    venue: BybitVenue,
    key: SandboxKey,
    method: str,
    path: str,
    payload: str = "",
    *,
    ts: int | None = None,
    recv: str = "5000",
    signed: str | None = None,
    secret: str | None = None,
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """One signed request: `payload` is the raw query (GET) or raw body (POST) as sent;
    `signed` what the signature covers (default: the payload itself)."""
    stamp = str(ts if ts is not None else int(time.time() * 1000))
    signature = sign(
        (secret or key.api_secret).encode(), stamp, key.api_key, recv,
        payload if signed is None else signed,
    )  # fmt: skip
    headers = {
        "X-BAPI-API-KEY": key.api_key,
        "X-BAPI-TIMESTAMP": stamp,
        "X-BAPI-RECV-WINDOW": recv,
        "X-BAPI-SIGN": signature,
        "Content-Type": "application/json",
    }
    url = f"{venue.url}{path}" + (f"?{payload}" if method == "GET" and payload else "")
    data = payload.encode() if method == "POST" else None
    async with http.request(method, URL(url, encoded=True), headers=headers, data=data) as r:
        return r.status, await r.json(), dict(r.headers)


def code(body: dict[str, Any]) -> int:
    assert set(body) == {"retCode", "retMsg", "result", "retExtInfo", "time"}, body
    value = body["retCode"]
    assert isinstance(value, int)
    return value


WALLET = "/v5/account/wallet-balance"


async def test_signature_over_raw_query_any_order_and_encoding(
    http: aiohttp.ClientSession, venue: BybitVenue
) -> None:
    key = venue.add_key()
    raw = "coin=USDT%2CBTC&accountType=UNIFIED"
    status, body, headers = await call(http, venue, key, "GET", WALLET, raw)
    assert (status, code(body)) == (200, 0), body
    assert headers["X-Bapi-Limit"] == "50"
    # the same parameters signed decoded, or re-ordered, are not what was sent
    for signed in ("coin=USDT,BTC&accountType=UNIFIED", "accountType=UNIFIED&coin=USDT%2CBTC"):
        status, body, _ = await call(http, venue, key, "GET", WALLET, raw, signed=signed)
        assert (status, code(body)) == (200, 10004), body
        assert body["retMsg"].startswith("error sign! origin_string[")
    status, body, _ = await call(http, venue, key, "GET", WALLET, raw, secret="wrong-secret")
    assert code(body) == 10004


async def test_signature_over_raw_json_body(http: aiohttp.ClientSession, venue: BybitVenue) -> None:
    key = venue.add_key()
    spaced = '{"category": "spot", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.00000001", "price": "1"}'  # noqa: E501
    status, body, _ = await call(http, venue, key, "POST", "/v5/order/create", spaced)
    # past the gateway: the order itself is refused by a business rule
    assert (status, code(body)) == (200, 170136), body
    compact = spaced.replace(": ", ":").replace(", ", ",")
    _, body, _ = await call(http, venue, key, "POST", "/v5/order/create", spaced, signed=compact)
    assert code(body) == 10004
    order = '{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.001","price":"1000","orderLinkId":"bf-1"}'  # noqa: E501
    _, body, _ = await call(http, venue, key, "POST", "/v5/order/create", order)
    assert code(body) == 0, body
    assert body["result"]["orderLinkId"] == "bf-1"
    _, body, _ = await call(http, venue, key, "POST", "/v5/order/create", order)
    assert code(body) == 170141  # duplicate client order id


async def test_timestamp_window(http: aiohttp.ClientSession, venue: BybitVenue) -> None:
    """server_time - recv_window <= timestamp < server_time + 1000 (docs/v5/guide.mdx)."""
    key = venue.add_key()
    q = "accountType=UNIFIED"
    now = int(time.time() * 1000)
    _, body, _ = await call(http, venue, key, "GET", WALLET, q, ts=now + 900)
    assert code(body) == 0
    _, body, _ = await call(http, venue, key, "GET", WALLET, q, ts=now + 1500)
    assert code(body) == 10002
    assert body["retMsg"].startswith(
        "invalid request, please check your server timestamp or recv_window param. "
        f"req_timestamp[{now + 1500}],server_timestamp["
    ), body
    assert body["retMsg"].endswith(",recv_window[5000]")
    _, body, _ = await call(http, venue, key, "GET", WALLET, q, ts=now - 7000)
    assert code(body) == 10002
    _, body, _ = await call(http, venue, key, "GET", WALLET, q, ts=now - 7000, recv="10000")
    assert code(body) == 0


async def test_check_order_and_error_bodies(http: aiohttp.ClientSession, venue: BybitVenue) -> None:
    q = "accountType=UNIFIED"
    key = venue.add_key(ip_whitelist=("10.9.8.7",))
    unknown = SandboxKey("bybit", "NOTAKEY00000000000", "some-secret-value")
    _, body, _ = await call(http, venue, unknown, "GET", WALLET, q)
    assert (code(body), body["retMsg"]) == (10003, "API key is invalid.")
    # a stale timestamp is refused before the key is even looked up ⚠
    _, body, _ = await call(http, venue, unknown, "GET", WALLET, q, ts=1)
    assert code(body) == 10002
    _, body, _ = await call(http, venue, key, "GET", WALLET, q, secret="wrong-secret")
    assert code(body) == 10004  # signature before the IP binding
    status, body, _ = await call(http, venue, key, "GET", WALLET, q)
    assert (status, code(body)) == (200, 10010)
    assert body["retMsg"] == "Unmatched IP, please check your API key's bound IP addresses."
    expired = venue.add_key(ip_whitelist=(), age_days=90.01)
    _, body, _ = await call(http, venue, expired, "GET", WALLET, q)
    assert (code(body), body["retMsg"]) == (33004, "Your api key has expired.")
    banned = venue.add_key(frozen=True)
    _, body, _ = await call(http, venue, banned, "GET", WALLET, q)
    assert code(body) == 10008
    read_only = venue.add_key(permissions=("Exchange.ExchangeHistory",))
    order = '{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Market","qty":"1"}'
    _, body, _ = await call(http, venue, read_only, "POST", "/v5/order/create", order)
    assert code(body) == 10005
    assert body["retMsg"] == "Permission denied, please check your API key permissions."
    _, body, _ = await call(http, venue, read_only, "GET", WALLET, "accountType=SPOT")
    assert code(body) == 10001  # a unified account has only the UNIFIED wallet


async def test_query_api_fields(http: aiohttp.ClientSession, venue: BybitVenue) -> None:
    bound = venue.add_key(permissions=("Spot.SpotTrade", "Wallet.Withdraw"))
    _, body, _ = await call(http, venue, bound, "GET", "/v5/user/query-api")
    result = body["result"]
    assert code(body) == 0
    assert result["apiKey"] == bound.api_key
    assert result["secret"] == ""
    assert result["readOnly"] == 0
    assert result["permissions"]["Spot"] == ["SpotTrade"]
    assert result["permissions"]["Wallet"] == ["Withdraw"]
    assert result["permissions"]["ContractTrade"] == []
    assert result["ips"] == ["127.0.0.1"]
    assert (result["deadlineDay"], result["expiredAt"]) == (-2, "1970-01-01T00:00:00Z")
    assert result["uta"] == 1
    unbound = venue.add_key(permissions=("Exchange.ExchangeHistory",), ip_whitelist=())
    _, body, _ = await call(http, venue, unbound, "GET", "/v5/user/query-api")
    result = body["result"]
    assert result["readOnly"] == 1
    assert result["ips"] == ["*"]
    assert result["deadlineDay"] == 90
    assert result["expiredAt"].endswith("Z")
    assert not result["expiredAt"].startswith("1970")


async def test_uid_rate_limit_headers(http: aiohttp.ClientSession, venue: BybitVenue) -> None:
    key = venue.add_key()
    venue.faults.rate_limit = True
    venue.faults.retry_after_s = 4
    status, body, headers = await call(http, venue, key, "GET", WALLET, "accountType=UNIFIED")
    assert (status, code(body), body["retMsg"]) == (200, 10006, "Too many visits!")
    assert headers["X-Bapi-Limit-Status"] == "0"
    reset = int(headers["X-Bapi-Limit-Reset-Timestamp"])
    assert 3000 <= reset - body["time"] <= 4000
    assert "Retry-After" not in headers
    async with http.get(f"{venue.url}/v5/market/time") as r:
        assert r.status == 200  # the UID limit leaves public endpoints alone


async def test_ccxt_classes_vs_the_code_table(venue: BybitVenue) -> None:
    """ccxt's classes for 10016 (ExchangeError) and 10010 (PermissionDenied) would read as
    unknown_error and no_trade_permission; Bybit's retCode decides (exchanges/bybit_codes.py)."""
    key = venue.add_key(ip_whitelist=("10.9.8.7",))
    client = venue.ccxt_client(key)
    try:
        with pytest.raises(ccxt.PermissionDenied) as denied:
            await client.privateGetV5AccountWalletBalance({"accountType": "UNIFIED"})
        c = classify_error(denied.value, "bybit")
        assert (c.error_class, c.code) == (E.IP_NOT_ALLOWED, "10010")
        venue.faults.maintenance = True
        with pytest.raises(ccxt.ExchangeError) as busy:
            await client.privateGetV5AccountWalletBalance({"accountType": "UNIFIED"})
        assert type(busy.value) is ccxt.ExchangeError
        c = classify_error(busy.value, "bybit")
        assert (c.error_class, c.code) == (E.EXCHANGE_UNAVAILABLE, "10016")
        venue.faults.maintenance = False
        venue.faults.rate_limit_per_s = 1
        limited: list[ccxt.RateLimitExceeded] = []
        for _ in range(3):  # 3 quick requests: some second sees 2, over the budget of 1
            try:
                await client.publicGetV5MarketTime()
            except ccxt.RateLimitExceeded as e:
                limited.append(e)
        assert limited
        assert " 403 " in str(limited[0])
        assert classify_error(limited[0], "bybit").error_class is E.RATE_LIMITED
    finally:
        await client.close()


async def test_ccxt_loads_markets_public_only_and_reads_quotes(venue: BybitVenue) -> None:
    key = venue.add_key()
    spec = client_spec(Endpoints(spot=venue.url))
    client = venue.ccxt_client(key, options=dict(spec.options), has=dict(spec.has))
    try:
        markets = await client.load_markets()
        assert venue.counts() == {"/v5/market/instruments-info": 3}, venue.counts()
        assert markets["BTC/USDT"]["active"] is True
        assert markets["DOGE/USDT"]["active"] is False
        assert markets["BTC/USDT:USDT"]["swap"] is True
        assert "SOL/USDT:USDT" not in markets
        ticker = await client.fetch_ticker("ETH/USDT")
        assert ticker["bid"] is not None
        assert ticker["bid"] < ticker["ask"]
        book = await client.fetch_order_book("BTC/USDT", 5)
        assert len(book["bids"]) == 5
        assert book["bids"][0][0] < book["asks"][0][0]
        assert await client.fetch_time() is not None
    finally:
        await client.close()
