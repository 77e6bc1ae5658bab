"""The connection-test cases Binance, OKX and Bybit share: each error class a key can fail with,
tested the same way on each exchange, with that exchange's codes and wording as data (`Case`).
Each tests/integration/test_{binance,okx,bybit}_connection_test.py runs them through a
`class TestShared(ConnectionTestCases)` naming its `case`, beside its own `venue` fixture.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest

from backfuture_daemon.configuration.models import Policy
from backfuture_daemon.exchanges.probes import ConnectionTester
from backfuture_daemon.health import ConnectionStatus
from backfuture_daemon.health import ErrorClass as E
from backfuture_daemon.health import StepStatus as S
from tests.integration.connection_test_support import strategy
from tests.integration.venue_support import LOOPBACK, VenueServer, assert_failed, run, step


@dataclass(frozen=True)
class Case:
    """One exchange's answers to the shared cases."""

    read_only: tuple[str, ...]  # permissions of a key that reads but cannot trade
    no_trade: tuple[str, ...]  # ...and what the permissions step then says
    withdraw: str  # the permission that allows withdrawals
    unknown_key: str  # a well-formed key the exchange does not know...
    unknown_key_says: tuple[str, ...]  # ...and its error code and text
    wrong_secret: str
    bad_signature_says: tuple[str, ...]
    ip_not_allowed_says: tuple[str, ...]
    clock_ahead_ms: int  # past the exchange's timestamp window
    maintenance_says: tuple[str, ...]
    server_errors: tuple[tuple[int, str], ...]  # an HTTP 5xx status and what the step says
    not_tradable_says: tuple[str, ...]  # for DOGE/USDT, listed but not tradable
    no_such_market_says: str  # for XYZ/USDT
    key_endpoint: str  # where the key's permissions are read
    probe_path: str  # the order the fallback probe sends without the key endpoint
    #: Connection keywords beside the plain Connection whose tests fail in the logs test
    log_variants: tuple[dict[str, str], ...]


class ConnectionTestCases:
    """Subclass as `TestShared` with `case` set; the test module provides `tester` (conftest)
    and `venue` (its exchange's started VenueServer)."""

    case: ClassVar[Case]

    async def test_invalid_key(self, tester: ConnectionTester, venue: VenueServer) -> None:
        report = await run(tester, venue, conn={"api_key": self.case.unknown_key})
        assert_failed(report, "auth", E.INVALID_KEY, *self.case.unknown_key_says)
        assert report.error_classes == (E.INVALID_KEY,)
        assert all(s.status is S.UNKNOWN for s in report.steps[3:]), report.to_dict()

    async def test_bad_signature(self, tester: ConnectionTester, venue: VenueServer) -> None:
        """The wrong secret; an exchange text that quotes the signed string (Bybit's 10004,
        API key included) is redacted: `run` finds no key in the report."""
        report = await run(tester, venue, conn={"api_secret": self.case.wrong_secret})
        assert_failed(report, "auth", E.INVALID_KEY, *self.case.bad_signature_says)

    async def test_stale_timestamp(self, tester: ConnectionTester, venue: VenueServer) -> None:
        """The venue's clock ahead past the exchange's window. The test reports clock_skew and
        signs the rest with the server's time, so the key is still checked."""
        venue.faults.clock_offset_ms = self.case.clock_ahead_ms
        report = await run(tester, venue)
        assert_failed(report, "clock", E.CLOCK_SKEW, "behind")
        assert step(report, "auth").status is S.PASS
        assert report.error_classes == (E.CLOCK_SKEW,)

    async def test_ip_not_allowed(self, tester: ConnectionTester, venue: VenueServer) -> None:
        report = await run(tester, venue, ip_whitelist=("10.9.8.7",))
        assert_failed(report, "auth", E.IP_NOT_ALLOWED, *self.case.ip_not_allowed_says)
        assert report.error_classes == (E.IP_NOT_ALLOWED,)

    async def test_exchange_unavailable_maintenance_and_5xx(
        self, tester: ConnectionTester, venue: VenueServer
    ) -> None:
        venue.faults.maintenance = True
        report = await run(tester, venue)
        assert_failed(report, "reachability", E.EXCHANGE_UNAVAILABLE, *self.case.maintenance_says)
        assert report.transient
        venue.faults.maintenance = False
        for status, says in self.case.server_errors:
            venue.faults.http_5xx = status
            report = await run(tester, venue)
            assert_failed(report, "reachability", E.EXCHANGE_UNAVAILABLE, says)
            assert report.transient

    async def test_strict_policy_fails_a_key_without_whitelist(
        self, tester: ConnectionTester, venue: VenueServer
    ) -> None:
        strict = Policy(egress_ips=("127.0.0.1",), require_ip_whitelist=True)
        report = await run(tester, venue, ip_whitelist=(), policy=strict)
        assert_failed(report, "ip_whitelist", E.IP_WHITELIST_MISSING)

    async def test_read_only_key_has_no_trade_permission(
        self, tester: ConnectionTester, venue: VenueServer
    ) -> None:
        report = await run(tester, venue, permissions=self.case.read_only)
        assert_failed(report, "permissions", E.NO_TRADE_PERMISSION, *self.case.no_trade)
        assert report.permissions["trade"] is False
        assert step(report, "auth").status is S.PASS  # a read-only key reads

    async def test_withdraw_enabled_always_fails(
        self, tester: ConnectionTester, venue: VenueServer
    ) -> None:
        report = await run(tester, venue, permissions=(*venue.full, self.case.withdraw))
        assert_failed(report, "withdraw", E.WITHDRAW_ENABLED)
        assert report.error_classes[0] is E.WITHDRAW_ENABLED
        assert report.permissions["withdraw"] is True
        assert not report.healthy

    async def test_pair_listed_but_not_tradable(
        self, tester: ConnectionTester, venue: VenueServer
    ) -> None:
        report = await run(tester, venue, pairs=("BTC/USDT", "DOGE/USDT", "XYZ/USDT"))
        assert_failed(report, "pairs", E.PAIR_NOT_TRADABLE, *self.case.not_tradable_says)
        assert self.case.no_such_market_says in step(report, "pairs").reason

    async def test_probe_fallback_without_the_key_endpoint(
        self, tester: ConnectionTester, venue: VenueServer
    ) -> None:
        """A deployment that does not serve the key endpoint (404): trade is proven with an
        order that can never be placed; withdrawal then cannot be read and the step says so —
        never guessed healthy."""
        bare = type(venue)(without=frozenset({self.case.key_endpoint}))
        async with bare:
            report = await run(tester, bare)
            permissions = step(report, "permissions")
            assert permissions.status is S.PASS, report.to_dict()
            assert "test order" in permissions.reason
            assert step(report, "withdraw").status is S.UNKNOWN
            assert report.status is ConnectionStatus.DEGRADED, report.to_dict()
            assert bare.counts()[self.case.probe_path] == 1, bare.counts()
            report = await run(tester, bare, permissions=self.case.read_only)
            assert_failed(report, "permissions", E.NO_TRADE_PERMISSION)
            for k in bare.keys:  # the probe never placed an order
                acct = bare.venue.engine.find_account(bare.exchange, k.api_key)
                assert acct is None or not acct.orders

    async def test_no_secret_in_logs(
        self, tester: ConnectionTester, venue: VenueServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        """With the root logger at DEBUG (ccxt would log every request's key header and signed
        URL there), failing tests leave no secret, passphrase or key in any log line."""
        caplog.set_level(logging.DEBUG)
        k = venue.add_key(ip_whitelist=("10.9.8.7",))
        variants: tuple[dict[str, Any], ...] = ({}, *self.case.log_variants)
        for conn in (venue.connection_for(k, **v) for v in variants):
            report = await tester.test(conn, [strategy(conn, ("BTC/USDT",))], LOOPBACK)
            assert report.status is ConnectionStatus.FAILED
            venue.assert_no_secret(json.dumps(report.to_dict()), k)
        venue.assert_no_secret(caplog.text, k)
