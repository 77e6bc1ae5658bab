"""BACKFUTURE_LOG_LEVEL=DEBUG prints no key, secret, passphrase or request signature.

ccxt logs every request's URL (MEXC: `apiKeyInfo?accessKey=<key>&...&signature=<hmac>`) and
headers (`X-MEXC-APIKEY`, `KC-API-KEY`) at DEBUG; clients.ClientFactory keeps the `ccxt` logger at
INFO. The secrets here are deliberately NOT registered with the redactor: the guard must hold on
its own. Real ccxt against the sandbox.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator

import pytest

from backfuture_daemon.exchanges.probes import ConnectionTester
from backfuture_daemon.logs import configure_logging
from backfuture_daemon.sandbox.server import Sandbox
from tests.integration.connection_test_support import (
    LOOPBACK_POLICY,
    add_key,
    connection_for,
    strategy,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    level = root.level
    stream = io.StringIO()
    handler = configure_logging("text", "DEBUG", stream=stream)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(level)


@pytest.mark.parametrize("exchange", ["mexc", "kucoin"])
async def test_debug_logs_carry_no_secret(
    sandbox: Sandbox, debug_log: io.StringIO, exchange: str
) -> None:
    key = add_key(sandbox, exchange)
    good = connection_for(sandbox, key)
    wrong = connection_for(sandbox, key, name="Wrong Secret", api_secret="wrong-secret-000000")
    tester = ConnectionTester(timeout=2.0)
    try:
        for conn in (good, wrong):
            await tester.test(conn, [strategy(conn)], LOOPBACK_POLICY)
    finally:
        await tester.close()
    text = debug_log.getvalue()
    for secret in (*good.secret_values(), *wrong.secret_values()):
        assert secret not in text
    assert not re.search(r"signature=|KC-API-SIGN|X-MEXC-APIKEY|KC-API-KEY", text)
