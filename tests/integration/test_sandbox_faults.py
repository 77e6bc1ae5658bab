"""Fault injection on each sandbox venue, seen through the real ccxt clients: latency, timeouts,
5xx, 429 with Retry-After, maintenance and clock offset; plus the loopback admin routes that
switch faults and keys at run time and count requests."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import ccxt.async_support as ccxt
import pytest

from backfuture_daemon.sandbox import Sandbox
from backfuture_daemon.sandbox.admin import is_loopback as _is_loopback
from tests.integration.conftest import CANARY, Clients

pytestmark = pytest.mark.integration

VENUES = ["mexc", "kucoin", "kucoinfutures"]


def _private_call(clients: Clients, venue: str) -> tuple[Any, Callable[[], Awaitable[Any]]]:
    """(client, a signed read on it) for one venue."""
    if venue == "mexc":
        ex = clients.mexc("mx0-it-healthy")
        return ex, ex.fetch_balance
    if venue == "kucoin":
        ex = clients.kucoin("kc-it-healthy")
        return ex, ex.fetch_balance
    ex = clients.kucoin_futures("kc-it-futures")
    return ex, lambda: ex.futuresPrivateGetAccountOverview({"currency": "USDT"})


def _base_url(sb: Sandbox, venue: str) -> str:
    return {"mexc": sb.mexc_url, "kucoin": sb.kucoin_url, "kucoinfutures": sb.kucoin_futures_url}[
        venue
    ]


@pytest.mark.parametrize("venue", VENUES)
async def test_latency(sandbox: Sandbox, clients: Clients, venue: str) -> None:
    sandbox.faults(venue).latency_ms = 200
    _ex, call = _private_call(clients, venue)
    started = time.perf_counter()
    await call()
    assert time.perf_counter() - started >= 0.2


@pytest.mark.parametrize("venue", VENUES)
async def test_timeout_hangs_past_the_client_timeout(
    sandbox: Sandbox, clients: Clients, venue: str
) -> None:
    sandbox.faults(venue).timeout = True
    ex, call = _private_call(clients, venue)
    ex.timeout = 300
    started = time.perf_counter()
    with pytest.raises(ccxt.RequestTimeout):
        await call()
    assert time.perf_counter() - started < 2  # the client gave up; stop() frees the handler


@pytest.mark.parametrize("venue", VENUES)
@pytest.mark.parametrize("status", [500, 502, 503])
async def test_5xx(sandbox: Sandbox, clients: Clients, venue: str, status: int) -> None:
    sandbox.faults(venue).http_5xx = status
    _ex, call = _private_call(clients, venue)
    # MEXC 503 and KuCoin 500 answer with their JSON bodies, the rest with an HTML error page
    # (ccxt then falls back to the HTTP status): all are ExchangeNotAvailable.
    with pytest.raises(ccxt.ExchangeNotAvailable):
        await call()


@pytest.mark.parametrize("venue", VENUES)
async def test_rate_limit_429_with_retry_after(
    sandbox: Sandbox, clients: Clients, venue: str
) -> None:
    sandbox.faults(venue).update({"rate_limit": True, "retry_after_s": 7})
    _ex, call = _private_call(clients, venue)
    with pytest.raises(ccxt.RateLimitExceeded):
        await call()
    async with (
        aiohttp.ClientSession() as s,
        s.get(_base_url(sandbox, venue) + "/api/v1/timestamp") as r,
    ):
        assert r.status == 429
        assert r.headers["Retry-After"] == "7"
        body = await r.json()
    assert body["code"] in (429, 510, "429000")


async def test_maintenance_mexc(sandbox: Sandbox, clients: Clients) -> None:
    sandbox.faults("mexc").maintenance = True
    ex = clients.mexc("mx0-it-healthy")
    with pytest.raises(ccxt.OnMaintenance):
        await ex.fetch_time()
    with pytest.raises(ccxt.OnMaintenance):
        await ex.fetch_balance()
    with pytest.raises(ccxt.OnMaintenance):
        await ex.fetch_balance({"type": "swap"})


@pytest.mark.parametrize("venue", ["kucoin", "kucoinfutures"])
async def test_maintenance_kucoin(sandbox: Sandbox, clients: Clients, venue: str) -> None:
    sandbox.faults(venue).maintenance = True
    ex, call = _private_call(clients, venue)
    with pytest.raises(ccxt.ExchangeNotAvailable):  # 503 page; kucoin has no OnMaintenance
        await call()
    status = await ex.fetch_status()
    assert status["status"] == "maintenance"
    assert status["info"]["data"]["status"] == "close"


@pytest.mark.parametrize("venue", VENUES)
async def test_clock_offset_makes_client_timestamps_stale(
    sandbox: Sandbox, clients: Clients, venue: str
) -> None:
    sandbox.faults(venue).clock_offset_ms = 45_000
    ex, call = _private_call(clients, venue)
    server_time = await (ex.fetch_time({"type": "swap"}) if venue == "mexc" else ex.fetch_time())
    assert server_time - time.time() * 1000 > 40_000
    with pytest.raises(ccxt.InvalidNonce):  # MEXC 700003, KuCoin 400002
        await call()
    # a client that adjusts for the time difference works again
    await ex.load_time_difference()
    await call()


async def test_faults_are_per_exchange(sandbox: Sandbox, clients: Clients) -> None:
    sandbox.faults("kucoin").http_5xx = 503
    await clients.mexc("mx0-it-healthy").fetch_balance()
    with pytest.raises(ccxt.ExchangeNotAvailable):  # both KuCoin ports share the knobs
        await clients.kucoin_futures("kc-it-futures").fetch_time()
    assert sandbox.faults("kucoinfutures") is sandbox.faults("kucoin")
    assert sandbox.faults("mexc") is not sandbox.faults("kucoin")
    with pytest.raises(ValueError, match="unknown sandbox exchange"):
        sandbox.faults("deribit")


# ----------------------------------------------------------------------------- admin routes


async def _admin(
    session: aiohttp.ClientSession, method: str, url: str, body: Any = None
) -> tuple[int, Any]:
    async with session.request(
        method, url, data=json.dumps(body) if body is not None else None
    ) as r:
        return r.status, await r.json()


async def test_admin_faults_route(sandbox: Sandbox, clients: Clients) -> None:
    async with aiohttp.ClientSession() as s:
        status, body = await _admin(
            s, "POST", sandbox.mexc_url + "/__sandbox/faults", {"maintenance": True}
        )
        assert status == 200
        assert body["faults"]["maintenance"] is True
        assert sandbox.faults("mexc").maintenance is True
        with pytest.raises(ccxt.OnMaintenance):
            await clients.mexc("mx0-it-healthy").fetch_time()
        status, body = await _admin(
            s, "POST", sandbox.mexc_url + "/__sandbox/faults", {"reset": True}
        )
        assert body["faults"]["maintenance"] is False
        assert body["faults"]["mexc_futures_orders_disabled"] is True  # the real default
        status, body = await _admin(
            s, "POST", sandbox.kucoin_url + "/__sandbox/faults", {"latency": 5}
        )
        assert status == 400
        assert "unknown fault 'latency'" in body["error"]
        status, body = await _admin(
            s, "POST", sandbox.kucoin_url + "/__sandbox/faults", {"http_5xx": 404}
        )
        assert status == 400
        status, body = await _admin(
            s, "POST", sandbox.kucoin_futures_url + "/__sandbox/faults", {"rate_limit": True}
        )
        assert body["exchange"] == "kucoin"
        assert sandbox.faults("kucoin").rate_limit is True
        assert sandbox.faults("mexc").rate_limit is False


async def test_admin_key_route(sandbox: Sandbox, clients: Clients) -> None:
    ex = clients.mexc("mx0-it-healthy")
    await ex.load_markets()
    async with aiohttp.ClientSession() as s:
        url = sandbox.mexc_url + "/__sandbox/keys/mx0-it-healthy"
        status, body = await _admin(s, "POST", url, {"permissions": ["SPOT_ACCOUNT_READ"]})
        assert status == 200
        assert body["permissions"] == ["SPOT_ACCOUNT_READ"]
        with pytest.raises(ccxt.AuthenticationError):  # 700007 on the next request
            await ex.create_order("BTC/USDT", "limit", "buy", 0.001, 20000, {"test": True})
        status, _ = await _admin(s, "POST", url, {"frozen": True})
        with pytest.raises(ccxt.ExchangeError, match="60005"):
            await ex.fetch_balance()
        status, body = await _admin(s, "POST", url, {"permissions": ["NOPE"]})
        assert status == 400
        assert "NOPE" in body["error"]
        status, body = await _admin(s, "POST", url, {"api_secret": "x"})
        assert status == 400
        status, body = await _admin(s, "POST", sandbox.mexc_url + "/__sandbox/keys/unknown", {})
        assert status == 404
        # a KuCoin key is changed through any port
        status, body = await _admin(
            s, "POST", sandbox.mexc_url + "/__sandbox/keys/kc-it-healthy", {"ip_whitelist": []}
        )
        assert body["exchange"] == "kucoin"
    info = (await clients.kucoin("kc-it-healthy").privateGetUserApiKey())["data"]
    assert "ipWhitelist" not in info


async def test_request_counter(sandbox: Sandbox, clients: Clients) -> None:
    ex = clients.mexc("mx0-it-healthy")
    await ex.spotPrivateGetAccount()  # implicit methods: no load_markets
    await ex.spotPrivateGetAccount()
    await ex.fetch_time()
    async with aiohttp.ClientSession() as s:
        status, body = await _admin(s, "GET", sandbox.kucoin_url + "/__sandbox/requests")
        assert status == 200
        assert body["venues"]["mexc"] == {"/api/v3/account": 2, "/api/v3/time": 1}
        assert body["total"] == 3  # admin calls are not counted
        await _admin(s, "DELETE", sandbox.kucoin_url + "/__sandbox/requests")
    assert sandbox.request_counts() == {}
    # unknown paths are counted once under one bucket, with the exchange's 404 body
    async with aiohttp.ClientSession() as s, s.get(sandbox.kucoin_url + "/api/v9/nope") as r:
        assert r.status == 404
        assert await r.json() == {"code": "404000", "msg": "Url Not Found"}
    assert sandbox.request_counts() == {"<unmatched>": 1}


def test_admin_is_loopback_only() -> None:
    assert _is_loopback("127.0.0.1")
    assert _is_loopback("127.0.0.2")
    assert _is_loopback("::1")
    assert not _is_loopback("203.0.113.10")
    assert not _is_loopback(None)
    assert not _is_loopback("garbage")


async def test_stop_releases_hung_requests(sandbox: Sandbox, clients: Clients) -> None:
    sandbox.faults("mexc").timeout = True
    ex = clients.mexc("mx0-it-healthy")
    ex.timeout = 10_000
    pending = asyncio.ensure_future(ex.fetch_time())
    await asyncio.sleep(0.2)
    started = time.perf_counter()
    await sandbox.stop()
    assert time.perf_counter() - started < 2
    with pytest.raises(ccxt.BaseError):
        await pending


async def test_no_secret_reaches_any_log(
    sandbox: Sandbox, clients: Clients, caplog: pytest.LogCaptureFixture
) -> None:
    """Secrets never travel (only HMACs do) and the sandbox writes no access log."""
    caplog.set_level(logging.DEBUG)
    await clients.mexc("mx0-it-healthy").fetch_balance()
    await clients.mexc("mx0-it-healthy", "wrong-secret").fetch_time()
    kucoin = clients.kucoin("kc-it-healthy")
    await kucoin.fetch_balance()
    with pytest.raises(ccxt.AuthenticationError):
        await clients.kucoin("kc-it-healthy", passphrase="CANARY-wrong-pass").fetch_balance()
    sandbox.faults("kucoin").http_5xx = 500
    with pytest.raises(ccxt.ExchangeNotAvailable):
        await kucoin.fetch_balance()
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert CANARY not in text
    assert not [r for r in caplog.records if r.name == "aiohttp.access"]


async def test_admin_add_key(sandbox: Sandbox, clients: Clients) -> None:
    entry = {
        "exchange": "mexc",
        "api_key": "mx0-it-added",
        "api_secret": f"{CANARY}-added",
        "permissions": ["SPOT_ACCOUNT_READ"],
        "balances": {"USDT": 5},
    }
    async with aiohttp.ClientSession() as s:
        status, body = await _admin(s, "POST", sandbox.mexc_url + "/__sandbox/keys", entry)
        assert (status, body) == (200, {"exchange": "mexc", "added": True})
        status, body = await _admin(
            s, "POST", sandbox.mexc_url + "/__sandbox/keys", {"exchange": "x"}
        )
        assert status == 400
        assert "keys[0].exchange" in body["error"]
    assert CANARY not in json.dumps(body)
    ex = clients.mexc("mx0-it-added")
    assert (await ex.spotPrivateGetAccount())["balances"] == [
        {"asset": "USDT", "free": "5", "locked": "0"}
    ]


async def test_start_failure_releases_ports(sandbox: Sandbox) -> None:
    taken = int(sandbox.mexc_url.rsplit(":", 1)[1])
    other = Sandbox([], mexc_port=0, kucoin_port=taken)
    with pytest.raises(OSError, match=r"(?i)address already in use"):
        await other.start()
    await other.stop()


@pytest.mark.parametrize("venue", VENUES)
async def test_rate_budget_per_second(sandbox: Sandbox, venue: str) -> None:
    sandbox.faults(venue).rate_limit_per_s = 2
    path = "/api/v3/time" if venue == "mexc" else "/api/v1/timestamp"
    async with aiohttp.ClientSession() as s:

        async def status() -> int:
            async with s.get(_base_url(sandbox, venue) + path) as r:
                return r.status

        started = time.monotonic()
        statuses = await asyncio.gather(*(status() for _ in range(20)))
        seconds = int(time.monotonic() - started) + 2  # one-second windows the burst touched
    assert 2 <= statuses.count(200) <= 2 * seconds
    assert statuses.count(429) == 20 - statuses.count(200)


async def test_faults_can_be_set_before_start() -> None:
    sb = Sandbox([])
    sb.faults("kucoin").maintenance = True
    assert sb.request_counts() == {}
    async with (
        sb,
        aiohttp.ClientSession() as s,
        s.get(sb.kucoin_futures_url + "/api/v1/status") as r,
    ):
        assert (await r.json())["data"]["status"] == "close"
    with pytest.raises(RuntimeError, match="not started"):
        _ = Sandbox([]).mexc_url


async def test_synthetic_markets_for_benchmarks() -> None:
    async with Sandbox([], synthetic_markets=400) as sb:
        factory = Clients(sb)
        try:
            mexc = factory.mexc()
            kucoin = factory.kucoin_futures()
            mexc_markets = await mexc.load_markets()
            kucoin_markets = await kucoin.load_markets()
            assert len(mexc_markets) == 4 + 400 + 1 + 100
            assert len([m for m in kucoin_markets.values() if m["swap"]]) == 2 + 100
            assert (await mexc.fetch_ticker("SYN0123/USDT"))["last"] > 0
        finally:
            await factory.close()
