"""Key age where the exchange reports it (the brief: "delete old keys if they are no longer
used"): the connection test carries the key's creation time into the report and the metric."""

from __future__ import annotations

import time

import pytest
from prometheus_client import generate_latest

from backfuture_daemon.exchanges.binance_keys import parse_api_restrictions
from backfuture_daemon.exchanges.bybit_keys import parse_query_api
from backfuture_daemon.exchanges.kucoin import parse_key_info
from backfuture_daemon.exchanges.probes import ConnectionTester
from backfuture_daemon.reconciler.state import ConfigStatus, ConnectionObservation, DaemonSnapshot
from backfuture_daemon.sandbox.server import Sandbox
from backfuture_daemon.telemetry.metrics import build_registry
from tests.integration.connection_test_support import report_for

pytestmark = pytest.mark.integration

CREATED_MS = 1_700_000_000_000  # 2023-11-14T22:13:20Z


def test_each_exchange_reports_its_key_creation_time() -> None:
    kucoin = parse_key_info({"permission": "General,Spot", "createdAt": CREATED_MS})
    binance = parse_api_restrictions(
        {"enableReading": True, "ipRestrict": True, "createTime": CREATED_MS}, CREATED_MS
    )
    bybit = parse_query_api(
        {"permissions": {}, "ips": ["1.2.3.4"], "createdAt": "2023-11-14T22:13:20Z"}, CREATED_MS
    )
    assert kucoin.created_at == binance.created_at == bybit.created_at == CREATED_MS / 1000
    assert parse_key_info({"permission": "General", "createdAt": "garbage"}).created_at is None


async def test_kucoin_report_and_metric_carry_the_key_age(
    tester: ConnectionTester, sandbox: Sandbox
) -> None:
    before = time.time()
    report = await report_for(tester, sandbox, "kucoin")
    created = report.key_created_timestamp
    assert created is not None
    assert before - 600 < created <= time.time() + 1  # the sandbox key was created just now
    assert report.to_dict()["key_created_timestamp"] == created
    snapshot = DaemonSnapshot(
        config=ConfigStatus(),
        connections=(ConnectionObservation("K", "kucoin", report, fingerprint="f"),),
    )
    text = generate_latest(build_registry(lambda: snapshot, process_metrics=False)).decode()
    assert 'backfuture_api_key_created_timestamp_seconds{connection="K",exchange="kucoin"}' in text
