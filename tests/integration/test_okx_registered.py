"""OKX through the shared wiring (config model, keys file, `Sandbox(okx_port=...)`): a keys file
with OKX keys (perm values, passphrase, acct_lv), validated Connections that require a
passphrase, the connection test against the full Sandbox, and the OKX port's admin fault route.
"""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr, ValidationError

from backfuture_daemon.configuration.models import Connection, Endpoints, Market, Policy
from backfuture_daemon.errors import ConfigError
from backfuture_daemon.exchanges.probes import ConnectionTester
from backfuture_daemon.health import ConnectionStatus
from backfuture_daemon.health import ErrorClass as E
from backfuture_daemon.sandbox import keys as sandbox_keys
from backfuture_daemon.sandbox import server
from tests.integration.connection_test_support import strategy

pytestmark = pytest.mark.integration
SECRET = "CANARY-okx-registered-secret"
KEYS = f"""
keys:
  - {{exchange: okx, api_key: okx-healthy, api_secret: {SECRET}-1, passphrase: {SECRET}-p1,
     permissions: [read_only, trade], ip_whitelist: [127.0.0.1]}}
  - {{exchange: okx, api_key: okx-spot-mode, api_secret: {SECRET}-2, passphrase: {SECRET}-p2,
     permissions: [read_only, trade], ip_whitelist: [127.0.0.1], acct_lv: 1}}
  - {{exchange: okx, api_key: okx-withdraw, api_secret: {SECRET}-3, passphrase: {SECRET}-p3,
     permissions: [read_only, trade, withdraw], ip_whitelist: [127.0.0.1]}}
"""


def _connection(sb: server.Sandbox, api_key: str, n: int) -> Connection:
    return Connection(
        name=f"OKX {api_key}",
        exchange="okx",
        api_key=SecretStr(api_key),
        api_secret=SecretStr(f"{SECRET}-{n}"),
        passphrase=SecretStr(f"{SECRET}-p{n}"),
        endpoints=Endpoints(**sb.endpoints("okx")),
    )


def test_keys_file_and_config_rules(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(KEYS)
    keys = sandbox_keys.load_keys_file(path)
    assert [k.api_key for k in keys] == ["okx-healthy", "okx-spot-mode", "okx-withdraw"]
    path.write_text(
        "keys:\n  - {exchange: okx, api_key: k, api_secret: s, permissions: [Spot], acct_lv: 7}\n"
    )
    with pytest.raises(ConfigError) as caught:
        sandbox_keys.load_keys_file(path)
    text = str(caught.value)
    for fragment in ("passphrase", "unknown okx scope(s) Spot", "acct_lv"):
        assert fragment in text, text
    assert "s" not in {i.message for i in caught.value.issues}
    with pytest.raises(ValidationError, match="okx requires a passphrase"):
        Connection(name="OKX", exchange="okx", api_key=SecretStr("k"), api_secret=SecretStr("s"))


async def test_connection_test_on_the_full_sandbox(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(KEYS)
    sb = server.Sandbox(sandbox_keys.load_keys_file(path))
    tester = ConnectionTester(timeout=2.0)
    await sb.start()
    try:
        policy = Policy(egress_ips=("127.0.0.1",))
        conn = _connection(sb, "okx-healthy", 1)
        report = await tester.test(conn, [strategy(conn)], policy)
        assert report.status is ConnectionStatus.ONLINE, report.to_dict()
        conn = _connection(sb, "okx-spot-mode", 2)
        report = await tester.test(conn, [strategy(conn, market=Market.FUTURES)], policy)
        assert report.error_classes == (E.FUTURES_UNAVAILABLE,), report.to_dict()
        conn = _connection(sb, "okx-withdraw", 3)
        report = await tester.test(conn, [strategy(conn)], policy)
        assert report.error_classes[0] is E.WITHDRAW_ENABLED
        async with aiohttp.ClientSession() as http:
            url = sb.okx_url + "/__sandbox/faults"
            async with http.post(url, json={"rate_limit": True}) as r:
                assert r.status == 200
        conn = _connection(sb, "okx-healthy", 1)
        report = await tester.test(conn, [strategy(conn)], policy)
        assert report.error_classes == (E.RATE_LIMITED,), report.to_dict()
        assert sb.faults("mexc").rate_limit is False  # OKX has its own knobs
        assert SECRET not in json.dumps(report.to_dict())
    finally:
        await tester.close()
        await sb.stop()
