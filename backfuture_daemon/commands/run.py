"""`backfuture run PATH [--http HOST:PORT] [--state-dir DIR]`: the GitOps daemon, one process.

Argparse, logging and signals only; backfuture_daemon/daemon.py wires and runs everything.
SIGTERM/SIGINT stop gracefully (exit 0), a second SIGINT forces exit (130), SIGHUP forces a
reconcile. Exit 2 on usage errors (path, bind address, busy port, state dir, a setting).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backfuture_daemon.daemon import Daemon
    from backfuture_daemon.settings import DaemonSettings

log = logging.getLogger("backfuture.run")

#: Settings field -> the flag that overrides it (named in error messages).
FLAGS = {
    "config_path": "PATH",
    "http": "--http",
    "state_dir": "--state-dir",
    "log_format": "--log-format",
    "log_level": "--log-level",
}


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
    for name in FLAGS:
        value = getattr(args, "path" if name == "config_path" else name, None)
        if value is not None:
            overrides[name] = value
    return load_settings(flags=FLAGS, **overrides)


def run(args: argparse.Namespace) -> int:
    """A bad flag or BACKFUTURE_* value, path, bind or state dir: UsageError, exit 2 (cli.py)."""
    from backfuture_daemon.daemon import Daemon
    from backfuture_daemon.logs import configure_logging

    settings = settings_from(args)
    configure_logging(settings.log_format, settings.log_level)
    # watchfiles logs every batch at INFO; the loop logs what the batch changed instead.
    logging.getLogger("watchfiles").setLevel(logging.WARNING)
    return asyncio.run(_main(Daemon(settings)))


async def _main(daemon: Daemon) -> int:
    stop = asyncio.Event()
    _install_signals(stop, daemon)
    return await daemon.run(stop)


def _install_signals(stop: asyncio.Event, daemon: Daemon) -> None:
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
    loop.add_signal_handler(signal.SIGHUP, lambda: daemon.request("SIGHUP"))
