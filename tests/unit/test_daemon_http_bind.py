"""The composition root embedded in a test: it serves, runs on the clock it is given, warns when
POST /reconcile is reachable from other machines (0.0.0.0, ::), and stops on its stop event."""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.request
from pathlib import Path

import pytest

from backfuture_daemon.daemon import Daemon, bind_warning
from backfuture_daemon.settings import load_settings
from tests.helpers.desired import FakeTester


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "203.0.113.10", "metrics.internal"])
def test_binding_beyond_loopback_warns_that_reconcile_is_unauthenticated(host: str) -> None:
    warning = bind_warning(host, 9464)
    assert warning is not None
    assert "POST /reconcile is unauthenticated" in warning


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_loopback_binds_do_not_warn(host: str) -> None:
    assert bind_warning(host, 9464) is None


def _get(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 (loopback)
        doc = json.loads(resp.read())
    assert isinstance(doc, dict)
    return doc


async def test_an_embedded_daemon_on_all_interfaces_warns_serves_and_stops(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "main.yaml").write_text("version: 1\n")
    settings = load_settings(config_path=config, state_dir=tmp_path / "state", http="0.0.0.0:0")
    daemon = Daemon(settings, tester=FakeTester(), clock=lambda: 1_234.5)
    stop = asyncio.Event()
    caplog.set_level(logging.INFO, logger="backfuture")
    task = asyncio.create_task(daemon.run(stop))
    await asyncio.wait_for(daemon.started.wait(), 30)
    assert daemon.url is not None
    port = daemon.url.rsplit(":", 1)[1]
    status = await asyncio.to_thread(_get, f"http://127.0.0.1:{port}/status")
    assert "config" in status
    assert daemon.reconciler is not None
    assert daemon.reconciler.snapshot().started_at == 1_234.5  # the injected clock
    stop.set()
    assert await asyncio.wait_for(task, 30) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("POST /reconcile is unauthenticated" in w for w in warnings)
    assert (tmp_path / "state" / "backfuture.sqlite").exists()
