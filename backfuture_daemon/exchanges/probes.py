"""The connection test: a fixed sequence of steps against one exchange key, reported as data.

`ConnectionTester.test(connection, strategies, policy)` is called by `backfuture check` and the
reconciler. It never raises for exchange problems: every failure is classified (classify.py) into
a step of the `ConnectionReport`. Market data is shared per (exchange, endpoint) across all tests;
after it is loaded a test costs 3–5 HTTP requests. Concurrent tests are bounded by a semaphore.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

from backfuture_daemon.configuration.models import Connection, Market, Policy, Strategy
from backfuture_daemon.exchanges.binance_keys import BinanceKeyInfo
from backfuture_daemon.exchanges.ccxt_base import AdapterContext
from backfuture_daemon.exchanges.clients import ClientFactory
from backfuture_daemon.exchanges.market_data import MarketDataHub
from backfuture_daemon.exchanges.markets import MarketCache
from backfuture_daemon.exchanges.okx_keys import OkxKeyInfo, evaluate_okx_key_expiry
from backfuture_daemon.exchanges.port import ExchangeAdapter, KeyInfo
from backfuture_daemon.exchanges.probe_run import ProbeFailed, ProbeRun
from backfuture_daemon.exchanges.registry import adapter_for
from backfuture_daemon.exchanges.steps import (
    CLOCK_SAMPLES,
    STEP_ORDER,
    build_report,
    clock_decided,
    evaluate_ip_whitelist,
    evaluate_key_expiry,
    evaluate_pairs,
    evaluate_permissions,
    evaluate_withdraw,
    judge_clock,
    not_checked,
)
from backfuture_daemon.health import CheckStep, ConnectionReport, ErrorClass, StepStatus
from backfuture_daemon.redaction import Redactor, mask

E = ErrorClass
S = StepStatus


class ConnectionTester:
    """Runs connection tests; holds the shared HTTP session and market cache. `await close()`."""

    def __init__(
        self,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
        *,
        max_concurrency: int = 64,
        market_refresh_interval: float = 3600.0,
        monotonic: Callable[[], float] = time.monotonic,
        deadline: float | None = None,
        adapters: Callable[[Connection, AdapterContext], ExchangeAdapter] = adapter_for,
    ) -> None:
        """`timeout`: per HTTP request. `deadline`: per test (default 4 x timeout); a test that
        runs out of time still returns a report (the running step fails, the rest not checked).
        `adapters`: builds each test's adapter (registry.adapter_for; fake.FakeAdapter in unit
        tests).
        """
        self._adapters = adapters
        self._deadline = deadline if deadline is not None else 4 * timeout
        self._clock = clock
        self._monotonic = monotonic
        self._factory = ClientFactory(timeout)
        self.markets = MarketCache(
            self._factory, refresh_interval=market_refresh_interval, clock=monotonic
        )
        self._ctx = AdapterContext(make_client=self._factory, clock=clock)
        self._limit = asyncio.Semaphore(max_concurrency)

    def market_data_hub(self) -> MarketDataHub:
        """A MarketDataHub on this tester's HTTP session and market cache (markets loaded once
        for both). Close the hub before the tester."""
        return MarketDataHub(
            self._factory, self.markets, clock=self._clock, monotonic=self._monotonic
        )

    async def close(self) -> None:
        await self.markets.close()
        await self._factory.close()

    async def test(
        self, connection: Connection, strategies: Sequence[Strategy], policy: Policy
    ) -> ConnectionReport:
        async with self._limit:
            return await self._test(connection, strategies, policy)

    async def _test(
        self, connection: Connection, strategies: Sequence[Strategy], policy: Policy
    ) -> ConnectionReport:
        checked_at = self._clock()
        started = self._monotonic()
        mine = [s for s in strategies if s.connection == connection.name]
        needs_futures = any(s.market is Market.FUTURES for s in mine)
        needs_trade = any(s.market is Market.SPOT for s in mine) or (
            not mine and Market.SPOT in connection.markets
        )
        adapter = self._adapters(connection, self._ctx)
        run = ProbeRun(
            connection,
            adapter,
            Redactor(connection.secret_values()),
            strategies=mine,
            policy=policy,
            needs_trade=needs_trade,
            needs_futures=needs_futures,
            now=checked_at,
        )
        try:
            await self._sequence(run)
        finally:
            await adapter.close()
        info = run.key_info
        permissions: dict[str, bool | None] = {
            "read": info.read if info else run.read,
            "trade": info.trade if info and info.trade is not None else run.trade,
            "futures": info.futures if info else None,
            "withdraw": info.withdraw if info else None,
        }
        ip_restricted = bool(info.ip_whitelist) if info and info.ip_whitelist is not None else None
        if isinstance(info, BinanceKeyInfo):  # no list on Binance, only the flag
            ip_restricted = info.ip_restricted
        return build_report(
            connection.name,
            adapter.exchange,
            run.steps,
            permissions=permissions,
            ip_restricted=ip_restricted,
            key_expiry_timestamp=run.key_expiry,
            key_created_timestamp=info.created_at if info is not None else None,
            clock_skew_ms=None if run.skew_ms is None else round(run.skew_ms, 1),
            latency_ms=None if run.latency_ms is None else round(run.latency_ms, 1),
            checked_at=checked_at,
            duration_seconds=round(self._monotonic() - started, 4),
            retry_after_seconds=run.retry_after,
            key_masked=mask(connection.api_key.get_secret_value()),
        )

    async def _sequence(self, run: ProbeRun) -> None:
        steps: dict[str, Callable[[ProbeRun], Awaitable[None]]] = {
            "reachability": self._step_reachability,
            "clock": self._step_clock,
            "auth": self._step_auth,
            "permissions": self._step_permissions,
            "withdraw": self._step_withdraw,
            "ip_whitelist": self._step_ip_whitelist,
            "key_expiry": self._step_key_expiry,
            "pairs": self._step_pairs,
            "futures": self._step_futures,
        }
        names = [n for n in STEP_ORDER if n != "futures" or run.needs_futures]
        try:
            async with asyncio.timeout(self._deadline):
                for name in names:
                    run.current = name
                    if run.stop_reason is not None:
                        run.add(not_checked(name, run.stop_reason))
                    else:
                        await steps[name](run)
        except TimeoutError:
            done = {s.name for s in run.steps}
            reason = f"no answer within the test's {self._deadline:g} s deadline"
            run.add(CheckStep(run.current, S.FAIL, reason, E.EXCHANGE_UNAVAILABLE))
            for name in names[names.index(run.current) + 1 :]:
                if name not in done:
                    run.add(not_checked(name, "the test ran out of time"))

    # ---- steps (each appends exactly one CheckStep) -------------------------------------

    async def _step_reachability(self, run: ProbeRun) -> None:
        a = run.adapter
        try:
            sample = await run.call(a.server_time)
            run.latency_ms = sample.latency_ms
            run.time_samples.append(sample)
            maintenance = await run.call(a.maintenance)
        except ProbeFailed as f:
            run.fail("reachability", f.c)
            run.stop_reason = f"exchange not reachable ({f.c.error_class})"
            return
        if maintenance:
            reason = run.redact(f"exchange reports maintenance: {maintenance}")
            run.add(CheckStep("reachability", S.FAIL, reason, E.EXCHANGE_UNAVAILABLE))
            run.stop_reason = "exchange under maintenance"
            return
        run.add(
            CheckStep(
                "reachability", S.PASS, f"server time and status OK in {run.latency_ms:.0f} ms"
            )
        )

    async def _step_clock(self, run: ProbeRun) -> None:
        a = run.adapter
        samples = run.time_samples
        if not clock_decided(samples[0], a.clock_window_ms, a.clock_ahead_ms):
            # That round trip may have been mostly queueing (ours or the network's): a skew is
            # only known to ±RTT/2, so take a few more and judge on the fastest.
            for _ in range(CLOCK_SAMPLES - 1):
                try:
                    samples.append(await run.call(a.server_time))
                except ProbeFailed:
                    break
        judged = judge_clock(samples, a.clock_window_ms, a.clock_ahead_ms)
        run.skew_ms = judged.sample.skew_ms
        if judged.recheck_after is not None:
            # A clock can be fixed in minutes: ask for an early re-test (the reconciler reads it).
            run.retry_after = max(run.retry_after or 0.0, judged.recheck_after)
        if judged.step.status is not S.PASS:
            # Sign the rest of the test with the server's clock so the key is still checked.
            a.compensate_clock(judged.sample.skew_ms)
        run.add(judged.step)

    async def _step_auth(self, run: ProbeRun) -> None:
        currencies = tuple(dict.fromkeys(s.quote for s in run.strategies)) or ("USDT",)
        try:
            summary = await run.call(lambda: run.adapter.balance(currencies))
        except ProbeFailed as f:
            cls = E.NO_READ_PERMISSION if f.c.scope_missing else f.c.error_class
            run.fail("auth", f.c, cls)
            run.stop_reason = f"auth failed ({cls})"
            return
        run.read = True
        run.add(CheckStep("auth", S.PASS, f"key valid; balances readable ({summary})"))

    async def _step_permissions(self, run: ProbeRun) -> None:
        a = run.adapter
        try:
            info = await run.call(a.key_info)
        except ProbeFailed as f:
            run.fail("permissions", f.c)
            run.key_info_failed = f"key info unavailable ({f.c.error_class})"
            return
        probed = False
        if info is None:
            # No key-info endpoint: prove trade with a test order; the rest stays unknown.
            trade: bool | None = None
            if run.needs_trade:
                symbols = tuple(
                    p for s in run.strategies if s.market is Market.SPOT for p in s.pairs
                )
                try:
                    await run.call(lambda: a.attach_markets(self.markets, futures=False))
                    trade = await run.call(lambda: a.trade_probe(symbols))
                except ProbeFailed as f:
                    run.fail("permissions", f.c)
                    return
                probed = True
            run.trade = trade
            probe_info = KeyInfo(
                read=True, trade=trade, futures=None, withdraw=None, ip_whitelist=None
            )
            run.add(
                evaluate_permissions(
                    probe_info,
                    needs_trade=run.needs_trade,
                    needs_futures=False,
                    trade_probed=probed,
                )
            )
            return
        run.key_info = info
        # Where the exchange has no futures trading by API at all (MEXC), the futures step
        # reports futures_unavailable; a missing futures scope would only add noise here.
        run.add(
            evaluate_permissions(
                info,
                needs_trade=run.needs_trade,
                needs_futures=run.needs_futures and a.supports_futures,
            )
        )

    async def _step_withdraw(self, run: ProbeRun) -> None:
        if run.key_info_failed:
            run.add(not_checked("withdraw", run.key_info_failed))
            return
        run.add(evaluate_withdraw(run.key_info))

    async def _step_ip_whitelist(self, run: ProbeRun) -> None:
        if run.key_info_failed:
            run.add(not_checked("ip_whitelist", run.key_info_failed))
            return
        egress = [str(ip) for ip in run.policy.egress_ips]
        require = run.policy.require_ip_whitelist
        run.add(evaluate_ip_whitelist(run.key_info, egress, require=require))

    async def _step_key_expiry(self, run: ProbeRun) -> None:
        if run.key_info_failed:
            run.add(not_checked("key_expiry", run.key_info_failed))
            return
        if isinstance(run.key_info, OkxKeyInfo):
            # OKX shows no expiry; its deletion rule for unbound trade keys (reference §2.5).
            run.add(evaluate_okx_key_expiry(run.key_info))
            return
        step, run.key_expiry = evaluate_key_expiry(run.key_info, run.now)
        run.add(step)

    async def _step_pairs(self, run: ProbeRun) -> None:
        if not run.strategies:
            run.add(evaluate_pairs((), 0))
            return
        a = run.adapter
        try:
            await run.call(lambda: a.attach_markets(self.markets, futures=run.needs_futures))
        except ProbeFailed as f:
            run.fail("pairs", f.c)
            return
        problems, checked = [], 0
        for s in run.strategies:
            for pair in s.pairs:
                checked += 1
                problem = a.pair_problem(pair, futures=s.market is Market.FUTURES)
                if problem:
                    problems.append(f'{problem} (strategy "{s.name}")')
        run.add(evaluate_pairs(problems, checked))

    async def _step_futures(self, run: ProbeRun) -> None:
        a = run.adapter
        quote = next(s.quote for s in run.strategies if s.market is Market.FUTURES)
        info = run.key_info
        if a.supports_futures and info is not None and info.futures is False:
            run.add(
                CheckStep(
                    "futures",
                    S.FAIL,
                    "the key lacks the futures permission",
                    E.NO_FUTURES_PERMISSION,
                )
            )
            return
        try:
            support = await run.call(lambda: a.futures_probe(quote))
        except ProbeFailed as f:
            run.fail("futures", f.c, E.NO_FUTURES_PERMISSION if f.c.scope_missing else None)
            return
        if support.available:
            run.add(CheckStep("futures", S.PASS, support.detail))
        else:
            run.add(CheckStep("futures", S.FAIL, support.detail, E.FUTURES_UNAVAILABLE))
