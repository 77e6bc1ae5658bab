"""`backfuture run PATH [--http HOST:PORT] [--state-dir DIR]`: the GitOps daemon, one process.

Wires the pieces: DaemonSettings (env BACKFUTURE_*, overridden by flags) → logging → SQLite bot
store → connection tester → reconcile loop (reconciler/loop.py) → metrics registry and HTTP
endpoints (telemetry/). Signals: SIGTERM/SIGINT stop gracefully (exit 0), a second SIGINT forces
exit (130); SIGHUP forces a reconcile. Exit 2 on usage errors (bad path, busy port, state dir).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backfuture_daemon import __version__
from backfuture_daemon.errors import UsageError

if TYPE_CHECKING:
    from backfuture_daemon.settings import DaemonSettings

log = logging.getLogger("backfuture.run")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path",
        type=Path,
        nargs="?",
        metavar="PATH",
        help="config directory or file, e.g. a git checkout (env BACKFUTURE_CONFIG_PATH)",
    )
    parser.add_argument(
        "--http", metavar="HOST:PORT", help="bind for /metrics /status (127.0.0.1:9464)"
    )
    parser.add_argument(
        "--state-dir", type=Path, metavar="DIR", help="SQLite bot state (env BACKFUTURE_STATE_DIR)"
    )
    parser.add_argument("--log-format", choices=("text", "json"), help="env BACKFUTURE_LOG_FORMAT")
    parser.add_argument(
        "--log-level",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="env BACKFUTURE_LOG_LEVEL",
    )


def settings_from(args: argparse.Namespace) -> DaemonSettings:
    from backfuture_daemon.settings import load_settings

    overrides: dict[str, Any] = {}
    for flag, name in (
        ("path", "config_path"),
        ("http", "http"),
        ("state_dir", "state_dir"),
        ("log_format", "log_format"),
        ("log_level", "log_level"),
    ):
        value = getattr(args, flag, None)
        if value is not None:
            overrides[name] = value
    return load_settings(**overrides)


def run(args: argparse.Namespace) -> int:
    from backfuture_daemon.logs import configure_logging

    settings = settings_from(args)  # a bad BACKFUTURE_* value: UsageError, exit 2 (cli.py)
    configure_logging(settings.log_format, settings.log_level)
    # watchfiles logs every batch at INFO; the loop logs what the batch changed instead.
    logging.getLogger("watchfiles").setLevel(logging.WARNING)
    path: Path = settings.config_path
    if not path.exists():
        print(f"backfuture run: {path}: no such file or directory", file=sys.stderr)
        return 2
    try:
        host, port = settings.http_host_port()
    except ValueError:
        print(f"backfuture run: --http {settings.http!r}: expected HOST:PORT", file=sys.stderr)
        return 2
    try:
        return asyncio.run(serve(settings, host, port))
    except UsageError as e:
        print(f"backfuture run: {e}", file=sys.stderr)
        return 2


async def serve(
    settings: DaemonSettings, host: str, port: int, *, stop: asyncio.Event | None = None
) -> int:
    """The daemon until `stop` is set (by a signal, or by an embedding test)."""
    from backfuture_daemon.bots.lifecycle import BotLifecycle
    from backfuture_daemon.bots.store import BotStore
    from backfuture_daemon.configuration.loading import load_revision
    from backfuture_daemon.configuration.sops import sops_version
    from backfuture_daemon.exchanges.probes import ConnectionTester
    from backfuture_daemon.reconciler.backoff import BackoffPolicy
    from backfuture_daemon.reconciler.fingerprint import new_salt
    from backfuture_daemon.reconciler.loop import LoopSettings, Reconciler, event
    from backfuture_daemon.telemetry.http import start_http_server
    from backfuture_daemon.telemetry.metrics import build_registry

    try:
        store = BotStore.in_dir(settings.state_dir)
    except OSError as e:
        raise UsageError(f"--state-dir {settings.state_dir}: {e.strerror}") from e
    salt = store.get_meta("fingerprint_salt")
    if salt is None:
        salt = new_salt()
        store.set_meta([("fingerprint_salt", salt)])
    tester = ConnectionTester(timeout=settings.check_timeout_seconds)
    backoff = BackoffPolicy(
        base=settings.backoff_base_seconds,
        cap=max(settings.backoff_cap_seconds, settings.backoff_base_seconds),
        healthy_interval=settings.recheck_interval_seconds,
        permanent_interval=settings.permanent_recheck_interval_seconds,
    )
    reconciler = Reconciler(
        settings.config_path,
        loader=partial(
            load_revision,
            sops_timeout=settings.sops_timeout_seconds,
            extra_egress_ips=settings.egress_ips,
        ),
        tester=tester,
        lifecycle=BotLifecycle(store, time.time),
        salt=salt,
        settings=LoopSettings(
            resync_interval=settings.resync_interval_seconds,
            # The tester's timeout is per HTTP request; one test makes several requests.
            check_timeout=settings.check_timeout_seconds * 4 + 5,
            shutdown_grace=settings.shutdown_grace_seconds,
            backoff=backoff,
        ),
        version=__version__,
        sops_version=await asyncio.to_thread(sops_version),
        on_applied=lambda state: store.set_meta([("applied_revision", state.revision.id)]),
    )
    registry = build_registry(reconciler.snapshot)

    async def request_reconcile() -> None:
        reconciler.request("POST /reconcile", force=True)

    liveness_age = max(3 * settings.resync_interval_seconds, 60.0)
    try:
        server = await start_http_server(
            host,
            port,
            registry=registry,
            snapshot_fn=reconciler.snapshot,
            reconcile_fn=request_reconcile,
            liveness_fn=lambda: reconciler.alive(liveness_age),
        )
    except OSError as e:
        await tester.close()
        store.close()
        raise UsageError(f"--http {host}:{port}: {e.strerror or e}") from e

    stop = stop or asyncio.Event()
    _install_signals(stop, reconciler.request)
    event(
        logging.INFO,
        f"backfuture {__version__} watching {settings.config_path}; "
        f"http://{host}:{server.port}/status; state in {store.path}",
    )
    try:
        await reconciler.run(stop)
    finally:
        await server.stop()
        await tester.close()
        store.checkpoint()
        store.close()
        event(logging.INFO, "stopped; bot state saved", state_dir=str(settings.state_dir))
    return 0


def _install_signals(stop: asyncio.Event, request: Any) -> None:
    loop = asyncio.get_running_loop()

    def on_stop(sig: signal.Signals) -> None:
        if stop.is_set():
            if sig is signal.SIGINT:
                # uvicorn semantics: a second Ctrl-C means "now". State is already persisted
                # (every bot transition is written when it happens).
                log.warning("second SIGINT: exiting immediately")
                logging.shutdown()
                os._exit(130)
            return
        log.info("%s: shutting down (readiness false, draining connection tests)", sig.name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_stop, sig)
    loop.add_signal_handler(signal.SIGHUP, lambda: request("SIGHUP", force=True))
