"""Bybit in the shared sandbox wiring: the keys file (Bybit `Group.Permission` pairs, no
passphrase, expiry allowed) and `Sandbox` serving the Bybit venue on its own port (`--bybit-port`),
end to end through the connection test.
"""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from backfuture_daemon.configuration.models import Connection, Endpoints, Policy
from backfuture_daemon.errors import ConfigError
from backfuture_daemon.exchanges.probes import ConnectionTester
from backfuture_daemon.health import ConnectionStatus
from backfuture_daemon.sandbox import keys
from backfuture_daemon.sandbox.bybit import gateway
from backfuture_daemon.sandbox.server import Sandbox
from tests.integration.bybit_support import CANARY
from tests.integration.connection_test_support import strategy

pytestmark = pytest.mark.integration

ENTRY = {
    "exchange": "bybit",
    "api_key": "BYBITwire000001key",
    "api_secret": f"{CANARY}-wiring-0123456789",
    "permissions": ["Spot.SpotTrade", "Wallet.AccountTransfer"],
    "ip_whitelist": ["127.0.0.1"],
}


def test_keys_file_entry() -> None:
    assert "bybit" in keys.EXCHANGES
    assert keys.SCOPES["bybit"] == gateway.PERMISSIONS
    key = keys.parse_key(ENTRY)
    assert key.permissions == frozenset(ENTRY["permissions"])
    assert key.passphrase is None
    with pytest.raises(ConfigError) as caught:
        keys.parse_key({**ENTRY, "permissions": ["Spot.Withdraw"], "passphrase": "x"})
    text = str(caught.value)
    assert "Spot.Withdraw" in text
    assert "passphrase" in text
    assert CANARY not in text
    assert keys.parse_key({**ENTRY, "expires_in_days": 5}).expires_in_days == 5.0


async def test_sandbox_serves_bybit_on_its_port() -> None:
    async with Sandbox([keys.parse_key(ENTRY)], bybit_port=0) as sb:
        assert sb.faults("bybit") is not sb.faults("mexc")
        conn = Connection(
            name="Bybit Wired",
            exchange="bybit",
            api_key=SecretStr(str(ENTRY["api_key"])),
            api_secret=SecretStr(str(ENTRY["api_secret"])),
            endpoints=Endpoints(**sb.endpoints("bybit")),
        )
        tester = ConnectionTester(timeout=2.0)
        try:
            policy = Policy(egress_ips=("127.0.0.1",))
            report = await tester.test(conn, [strategy(conn, ("BTC/USDT",))], policy)
            assert report.status is ConnectionStatus.DEGRADED, report.to_dict()  # transfer
            sb.faults("bybit").rate_limit = True
            report = await tester.test(conn, [strategy(conn, ("BTC/USDT",))], policy)
            assert report.status is ConnectionStatus.FAILED
        finally:
            await tester.close()
        assert sb.request_counts("bybit")["/v5/user/query-api"] == 1
