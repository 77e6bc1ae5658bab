"""The sandbox under abuse (issue 8 item 8): hostile JSON on the admin routes, absurd key values,
a keys file with NaN balances, malformed HTTP carrying an API-key header, and IPv4-mapped IPv6
loopback callers. Each answers with a clear 4xx or exit 2, never a 500, a traceback or an echo."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import math
import socket
from pathlib import Path

import aiohttp
import pytest

from backfuture_daemon import cli
from backfuture_daemon.sandbox import Sandbox
from backfuture_daemon.sandbox.admin import is_loopback
from backfuture_daemon.sandbox.venue import normalise_ip
from tests.integration.conftest import Clients, default_keys

pytestmark = pytest.mark.integration

#: should a bad keys file ever be accepted, the server binds free ports instead of the defaults
_FREE_PORTS = tuple(
    arg
    for name in ("mexc", "kucoin", "kucoin-futures", "binance", "okx", "bybit")
    for arg in (f"--{name}-port", "0")
)
_DEEP_LIST = "[" * 100_000 + "]" * 100_000
_DEEP_OBJECT = '{"a":' * 5_000 + "1" + "}" * 5_000

HOSTILE_BODIES = [
    ('{"latency_ms": Infinity}', "Infinity"),
    ('{"latency_ms": -Infinity}', "Infinity"),
    ('{"latency_ms": NaN}', "NaN"),
    ('{"latency_ms": 1e400}', "finite"),
    (_DEEP_LIST, "nested"),
    (_DEEP_OBJECT, "nested"),
    ('{"latency_ms": 1' + "0" * 5000 + "}", "JSON"),
]


async def _post(url: str, text: str) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as s, s.post(url, data=text) as r:
        return r.status, await r.json()


@pytest.mark.parametrize(("body", "word"), HOSTILE_BODIES, ids=lambda v: str(v)[:20])
@pytest.mark.parametrize("route", ["/__sandbox/faults", "/__sandbox/keys/mx0-it-healthy"])
async def test_hostile_json_is_a_clear_400(
    sandbox: Sandbox, route: str, body: str, word: str
) -> None:
    before = sandbox.faults("mexc").to_dict()
    status, answer = await _post(sandbox.mexc_url + route, body)
    assert status == 400
    assert isinstance(answer["error"], str)
    assert word in answer["error"]
    assert sandbox.faults("mexc").to_dict() == before


async def test_hostile_json_on_add_key(sandbox: Sandbox) -> None:
    status, answer = await _post(sandbox.kucoin_url + "/__sandbox/keys", _DEEP_OBJECT)
    assert status == 400
    assert "nested" in str(answer["error"])


@pytest.mark.parametrize("days", [1e308, -1e308, 1e20])
async def test_absurd_expiry_is_refused_and_the_key_keeps_working(
    sandbox: Sandbox, clients: Clients, days: float
) -> None:
    url = sandbox.mexc_url + "/__sandbox/keys/mx0-it-healthy"
    status, answer = await _post(url, f'{{"expires_in_days": {days!r}}}')
    assert status == 400
    assert "expires_in_days" in str(answer["error"])
    balance = await clients.mexc("mx0-it-healthy").fetch_balance()
    assert balance["USDT"]["free"] == 1000


@pytest.mark.parametrize("days", [math.nan, math.inf, -math.inf, 1e308])
def test_update_key_refuses_non_finite_expiry(sandbox: Sandbox, days: float) -> None:
    with pytest.raises(ValueError, match="expires_in_days"):
        sandbox.update_key("mx0-it-expiring", expires_in_days=days)
    key = sandbox.keys.get("mexc", "mx0-it-expiring")
    assert key is not None
    assert key.remaining_days(key.created_ms) == 5


@pytest.mark.parametrize(
    ("faults", "name"),
    [
        ({"latency_ms": math.nan}, "latency_ms"),
        ({"hang_seconds": math.inf}, "hang_seconds"),
        ({"latency_ms": 1e308}, "latency_ms"),
        ({"clock_offset_ms": -1e308}, "clock_offset_ms"),
        ({"retry_after_s": 10**30}, "retry_after_s"),
    ],
)
def test_fault_values_are_bounded(sandbox: Sandbox, faults: dict[str, float], name: str) -> None:
    before = sandbox.faults("kucoin").to_dict()
    with pytest.raises(ValueError, match=name):
        sandbox.faults("kucoin").update(faults)
    assert sandbox.faults("kucoin").to_dict() == before


@pytest.mark.parametrize(
    ("balances", "where"),
    [
        ("{USDT: .nan}", "balances.USDT"),
        ("{USDT: .inf}", "balances.USDT"),
        ("{USDT: -.inf}", "balances.USDT"),
        ("{USDT: 1e999}", "balances.USDT"),
    ],
)
def test_cli_refuses_a_keys_file_with_non_finite_balances(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], balances: str, where: str
) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(
        f"keys:\n  - {{exchange: mexc, api_key: mx0-a, api_secret: b, balances: {balances}}}\n"
    )
    code = cli.main(["sandbox", "--keys", str(path), *_FREE_PORTS])
    err = capsys.readouterr().err
    assert code == 2
    assert f"keys[0].{where}" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "value", ["2024-13-45", "!!int abc", "!!bool maybe", "!!set [1]", "{? [a]: 1}"]
)
def test_cli_refuses_yaml_the_constructors_choke_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(
        f"keys:\n  - exchange: mexc\n    api_key: mx0-a\n    api_secret: CANARY-x\n"
        f"    note: {value}\n"
    )
    code = cli.main(["sandbox", "--keys", str(path), *_FREE_PORTS])
    err = capsys.readouterr().err
    assert code == 2
    assert "not valid YAML" in err
    assert "Traceback" not in err
    assert "CANARY" not in err


MALFORMED = [
    b"GET /api/v3/account HTTP/1.1\r\nHost: x\r\nX-MEXC-APIKEY CANARY-mexc-key\r\n\r\n",
    b"GET /api/v3/account HTTP/1.1\r\nHost: x\r\nX-MEXC-APIKEY: CANARY-mexc\x01key\r\n\r\n",
    b"GET /api/v1/accounts HTTP/1.1\r\nHost: x\r\nKC-API-KEY : CANARY-kc-key\r\n\r\n",
    b"GET /api/v1/accounts HTTP/1.1\r\nHost: x\r\nKC-API-KEY: CANARY-kc\x7fkey\r\n\r\n",
    b"GET /api/v1/accounts HTTP/1.1\r\nHost: x\r\nKC-API-KEY: " + b"CANARY" * 2000 + b"\r\n\r\n",
]


@pytest.mark.parametrize("raw", MALFORMED, ids=range(len(MALFORMED)))
async def test_malformed_request_echoes_no_key_header(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture, raw: bytes
) -> None:
    caplog.set_level(logging.DEBUG)
    port = int(sandbox.kucoin_url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(65536), 5)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.")
    assert b" 400 " in head.split(b"\r\n")[0]
    assert b"malformed" in body
    for text in (answer, caplog.text.encode()):
        assert b"CANARY" not in text
        assert b"API-KEY" not in text.upper()
        assert b"APIKEY" not in text.upper()


@pytest.mark.parametrize(
    ("ip", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("::ffff:127.1.2.3", True),
        ("::ffff:203.0.113.10", False),
        ("203.0.113.10", False),
        ("fe80::1%lo", False),
        (None, False),
        ("garbage", False),
    ],
)
def test_ipv4_mapped_loopback(ip: str | None, loopback: bool) -> None:
    assert is_loopback(ip) is loopback


def test_mapped_client_addresses_read_as_ipv4() -> None:
    """A dual-stack listener sees IPv4 callers as ::ffff:a.b.c.d; whitelists hold a.b.c.d."""
    assert normalise_ip("::ffff:203.0.113.10") == "203.0.113.10"
    assert normalise_ip("203.0.113.10") == "203.0.113.10"
    assert normalise_ip("2001:db8::1") == "2001:db8::1"
    assert normalise_ip("") == ""


def _non_loopback_ip() -> str | None:
    """This machine's address on its default route (a UDP connect sends nothing), if any."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("198.51.100.1", 9))
            ip = str(s.getsockname()[0])
        except OSError:
            return None
    return None if is_loopback(ip) else ip


ADMIN_CALLS = [
    ("GET", "/__sandbox/faults", None),
    ("POST", "/__sandbox/faults", {"maintenance": True}),
    ("POST", "/__sandbox/keys", {"exchange": "mexc", "api_key": "x", "api_secret": "y"}),
    ("POST", "/__sandbox/keys/mx0-it-healthy", {"frozen": True}),
    ("GET", "/__sandbox/market?symbol=BTC/USDT", None),
    ("POST", "/__sandbox/market", {"symbol": "BTC/USDT", "price": 1}),
    ("GET", "/__sandbox/orders?api_key=mx0-it-healthy", None),
    ("GET", "/__sandbox/requests", None),
    ("DELETE", "/__sandbox/requests", None),
]


async def test_admin_routes_refuse_a_non_loopback_caller() -> None:
    ip = _non_loopback_ip()
    if ip is None:
        pytest.skip("no non-loopback address on this machine")
    sandbox = Sandbox(default_keys(), host=ip)
    await sandbox.start()
    try:
        async with aiohttp.ClientSession() as s:
            for method, path, body in ADMIN_CALLS:
                data = None if body is None else json.dumps(body)
                async with s.request(method, sandbox.mexc_url + path, data=data) as r:
                    assert (method, path, r.status) == (method, path, 403)
                    assert await r.json() == {"error": "admin routes are loopback-only"}
        assert not sandbox.faults("mexc").maintenance
        assert sandbox.market_state("BTC/USDT")["mode"] == "walk"
        assert not sandbox.keys.get("mexc", "mx0-it-healthy").frozen  # type: ignore[union-attr]
        assert sandbox.keys.find("x") is None
    finally:
        await sandbox.stop()


async def test_an_oversized_admin_body_is_413_not_500(sandbox: Sandbox) -> None:
    async with (
        aiohttp.ClientSession() as s,
        s.post(sandbox.mexc_url + "/__sandbox/market", data=io.BytesIO(b"[" * 2**21)) as r,
    ):
        assert r.status == 413
        assert "Maximum request body size" in await r.text()
    assert sandbox.market_state("BTC/USDT")["mode"] == "walk"
