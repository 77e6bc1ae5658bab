"""The composition root: `Daemon(settings).run(stop)` wires the whole daemon and runs it.

`backfuture run` (commands/run.py) stops it from a signal; tests embed it and set the event
(uvicorn `Server` style). It opens the bot store, builds the tester, the reconcile loop, metrics
and HTTP endpoints, and closes them in reverse order. Nothing else builds these objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from functools import partial

from backfuture_daemon import __version__
from backfuture_daemon.bots.lifecycle import BotLifecycle
from backfuture_daemon.bots.store import BotStore
from backfuture_daemon.configuration.desired_state import DesiredState
from backfuture_daemon.configuration.loading import load_revision
from backfuture_daemon.configuration.sops import sops_version
from backfuture_daemon.daemon_bots import BotsWiring
from backfuture_daemon.errors import UsageError
from backfuture_daemon.logs import log_event
from backfuture_daemon.reconciler.backoff import BackoffPolicy
from backfuture_daemon.reconciler.checks import Tester
from backfuture_daemon.reconciler.fingerprint import new_salt
from backfuture_daemon.reconciler.loop import LoopSettings, Reconciler
from backfuture_daemon.settings import DaemonSettings, is_loopback_bind
from backfuture_daemon.telemetry.http import HttpServer, start_http_server
from backfuture_daemon.telemetry.metrics import build_registry

log = logging.getLogger("backfuture.daemon")


def loop_settings(settings: DaemonSettings) -> LoopSettings:
    return LoopSettings(
        resync_interval=settings.resync_interval_seconds,
        # The tester's timeout is per HTTP request; one test makes several requests.
        check_timeout=settings.check_timeout_seconds * 4 + 5,
        shutdown_grace=settings.shutdown_grace_seconds,
        backoff=BackoffPolicy(
            base=settings.backoff_base_seconds,
            cap=max(settings.backoff_cap_seconds, settings.backoff_base_seconds),
            healthy_interval=settings.recheck_interval_seconds,
            permanent_interval=settings.permanent_recheck_interval_seconds,
        ),
    )


def bind_warning(host: str, port: int) -> str | None:
    """What to tell an operator who binds beyond loopback (0.0.0.0, ::, a public address)."""
    if is_loopback_bind(host):
        return None
    return (
        f"HTTP bound to {host}:{port}, reachable from other machines: POST /reconcile is "
        "unauthenticated (anyone who reaches the port can force reconciles and re-tests; "
        "/status shows connection names and health). Bind 127.0.0.1 or restrict access with a "
        "network policy"
    )


class Daemon:
    """One daemon process' worth of objects. `tester`: the connection test port (exchanges'
    ConnectionTester by default; a fake in tests); `clock`: wall time for bot transitions,
    test results and due times (the loop's resync timer keeps its own monotonic clock)."""

    def __init__(
        self,
        settings: DaemonSettings,
        *,
        tester: Tester | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self.reconciler: Reconciler | None = None
        self.url: str | None = None  # http://host:port once serving
        self.started = asyncio.Event()  # set once the endpoints answer
        self._tester = tester
        self.bots: BotsWiring | None = None

    def request(self, reason: str) -> None:
        """A forced reconcile (SIGHUP); ignored before the loop exists."""
        if self.reconciler is not None:
            self.reconciler.request(reason, force=True)

    async def run(self, stop: asyncio.Event) -> int:
        """The daemon until `stop` is set; UsageError (exit 2) for a bad path, state dir or bind."""
        settings = self.settings
        if not settings.config_path.exists():
            raise UsageError(f"{settings.config_path}: no such file or directory")
        host, port = settings.http_host_port()
        async with contextlib.AsyncExitStack() as stack:
            store = _open_store(settings)
            stack.callback(_close_store, store)
            bots = BotsWiring(
                store,
                clock=self._clock,
                interval=settings.bots_tick_seconds,
                order_timeout=settings.order_timeout_seconds,
                order_visibility=settings.order_visibility_seconds,
            )
            stack.push_async_callback(bots.hub.close)
            self.bots = bots
            reconciler = await self._reconciler(store, stack, bots)
            server = await _serve_http(host, port, reconciler, settings, bots)
            stack.push_async_callback(server.stop)
            self.url = f"http://{host}:{server.port}"
            warning = bind_warning(host, server.port)
            if warning is not None:
                log_event(log, logging.WARNING, warning)
            log_event(
                log,
                logging.INFO,
                f"backfuture {__version__} watching {settings.config_path}; "
                f"http://{host}:{server.port}/status; state in {store.path}",
            )
            self.started.set()
            sync = asyncio.create_task(bots.follow(reconciler, stop), name="bots:follow")
            feeds = asyncio.create_task(
                bots.hub.run(settings.bots_tick_seconds, stop), name="bots:market-data"
            )
            try:
                await reconciler.run(stop)
            finally:
                stop.set()
                await asyncio.gather(sync, feeds, return_exceptions=True)
                await bots.shutdown(settings.shutdown_grace_seconds)
        log_event(log, logging.INFO, "stopped; bot state saved", state_dir=str(settings.state_dir))
        return 0

    async def _reconciler(
        self, store: BotStore, stack: contextlib.AsyncExitStack, bots: BotsWiring
    ) -> Reconciler:
        settings = self.settings
        salt = store.get_meta("fingerprint_salt")
        if salt is None:
            salt = new_salt()
            store.set_meta([("fingerprint_salt", salt)])
        tester = self._tester
        if tester is None:
            from backfuture_daemon.exchanges.probes import ConnectionTester

            tester = ConnectionTester(timeout=settings.check_timeout_seconds)
        stack.push_async_callback(tester.close)
        self.reconciler = Reconciler(
            settings.config_path,
            loader=partial(
                load_revision,
                sops_timeout=settings.sops_timeout_seconds,
                extra_egress_ips=settings.egress_ips,
            ),
            tester=tester,
            lifecycle=BotLifecycle(store, self._clock),
            salt=salt,
            settings=loop_settings(settings),
            clock=self._clock,
            version=__version__,
            sops_version=await asyncio.to_thread(sops_version),
            on_applied=lambda state: _applied(store, bots, state),
        )
        return self.reconciler


def _applied(store: BotStore, bots: BotsWiring, state: DesiredState) -> None:
    store.set_meta([("applied_revision", state.revision.id)])
    bots.applied(state)


def _open_store(settings: DaemonSettings) -> BotStore:
    try:
        return BotStore.in_dir(settings.state_dir)
    except OSError as e:
        raise UsageError(f"--state-dir {settings.state_dir}: {e.strerror}") from e


def _close_store(store: BotStore) -> None:
    store.checkpoint()  # every transition is already committed; this folds the WAL in
    store.close()


async def _serve_http(
    host: str, port: int, reconciler: Reconciler, settings: DaemonSettings, bots: BotsWiring
) -> HttpServer:
    async def request_reconcile() -> None:
        reconciler.request("POST /reconcile", force=True)

    liveness_age = max(3 * settings.resync_interval_seconds, 60.0)
    try:
        return await start_http_server(
            host,
            port,
            registry=build_registry(lambda: bots.join(reconciler.snapshot())),
            snapshot_fn=lambda: bots.join(reconciler.snapshot()),
            reconcile_fn=request_reconcile,
            liveness_fn=lambda: reconciler.alive(liveness_age),
        )
    except (OSError, OverflowError) as e:
        detail = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise UsageError(f"--http {host}:{port}: {detail}") from e
