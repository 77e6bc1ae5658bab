"""OKX spot and USDT-margined swaps behind the ExchangeAdapter interface (live swap orders:
okx_futures_trading.py).

Built by registry.py for connections with `exchange: okx` (passphrase required); driven by
probes.ConnectionTester. Implicit ccxt methods only (no call triggers load_markets); markets come
from the shared cache, loaded from public instruments alone (reference §A). Facts: §B, §C.5, §2.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from backfuture_daemon.exchanges.ccxt_base import (
    AdapterContext,
    CcxtAdapter,
    Refused,
    balance_summary,
    endpoints_loopback,
    market_problem,
)
from backfuture_daemon.exchanges.clients import ClientSpec
from backfuture_daemon.exchanges.okx_keys import OkxKeyInfo, parse_account_config
from backfuture_daemon.exchanges.port import FuturesSupport, KeyInfo, ServerTime

if TYPE_CHECKING:
    from backfuture_daemon.configuration.models import Connection, Endpoints
    from backfuture_daemon.exchanges.port import MarketSource

#: ±30 s ⚠ (reference §B): OKX rejects older or newer timestamps with 50102.
CLOCK_WINDOW_MS = 30_000.0


def client_spec(endpoints: Endpoints | None) -> ClientSpec:
    """`okx` with one base URL (OKX serves every path from one host). One client loads spot and
    swap instruments together, so both share one cache entry (as MEXC's spot and contract)."""
    base = endpoints.spot if endpoints else None
    return ClientSpec(
        ccxt_id="okx",
        urls={"rest": base} if base else {},
        options={
            "adjustForTimeDifference": False,
            # load_markets would otherwise sign GET /api/v5/asset/currencies and fetch futures
            # and options lists no strategy needs (§A).
            "fetchMarkets": {"types": ["spot", "swap"]},
        },
        has={"fetchCurrencies": False},
        loopback=endpoints_loopback(endpoints),
    )


def _rows(response: Any) -> list[dict[str, Any]]:
    data = response.get("data") if isinstance(response, dict) else None
    return [r for r in data or [] if isinstance(r, dict)]


def _number(value: object) -> str:
    text = str(value or "0")
    return text.rstrip("0").rstrip(".") if "." in text else text


class OkxAdapter(CcxtAdapter):
    exchange = "okx"
    supports_futures = True
    clock_window_ms = CLOCK_WINDOW_MS
    clock_ahead_ms = CLOCK_WINDOW_MS

    def __init__(self, connection: Connection, ctx: AdapterContext) -> None:
        super().__init__(connection, ctx, client_spec(connection.endpoints))
        self._info: OkxKeyInfo | None = None

    async def server_time(self) -> ServerTime:
        return await self._time_sample(
            self._client.publicGetPublicTime, lambda r: _rows(r)[0]["ts"]
        )

    async def maintenance(self) -> str | None:
        """`GET /api/v5/system/status`: an `ongoing` event means the API is (partly) down."""
        events = _rows(await self._client.publicGetSystemStatus())
        ongoing = [e for e in events if e.get("state") == "ongoing"]
        if not ongoing:
            return None
        return "; ".join(f"{str(e.get('title', ''))[:60]} (ongoing)" for e in ongoing[:2])

    async def balance(self, currencies: tuple[str, ...]) -> str:
        """The trading account (spot and derivatives share it), the strategies' currencies."""
        params = {"ccy": ",".join(currencies)} if currencies else {}
        rows = _rows(await self._client.privateGetAccountBalance(params))
        details = rows[0].get("details") if rows else None
        free = {
            str(d.get("ccy")).upper(): _number(d.get("availBal"))
            for d in details or []
            if isinstance(d, dict)
        }
        return balance_summary("trading account", free, currencies)

    async def key_info(self) -> KeyInfo | None:
        """`GET /api/v5/account/config`: perm, ip and acctLv. A deployment without it (404):
        None, and the tester proves trade with `trade_probe`; withdrawal stays unknown."""
        response = await self.guarded(
            self._client.privateGetAccountConfig, keep=lambda r: r.not_found
        )
        if isinstance(response, Refused):
            return None
        rows = _rows(response)
        self._info = parse_account_config(rows[0]) if rows else None
        return self._info

    async def trade_probe(self, symbols: tuple[str, ...]) -> bool:
        """OKX has no test-order endpoint (§2.2): the key's `perm` decides when readable.
        Without it, an order that can never be placed (size 0): the gateway refuses a key
        without `trade` (50120) before it reads the parameters (51000, a business rule) ⚠."""
        if self._info is not None:
            return bool(self._info.trade)
        body = {
            "instId": self.market_id_of(symbols, "BTC-USDT"),
            "tdMode": "cash",
            "side": "buy",
            "ordType": "limit",
            "px": "1",
            "sz": "0",
            # our own id, so ccxt adds no broker id or tag of its own
            "clOrdId": f"bfprobe{uuid.uuid4().hex[:16]}",
        }
        answer = await self.guarded(
            lambda: self._client.privatePostTradeOrder(body),
            keep=lambda r: r.scope_missing or r.business_rule,
        )
        return not (isinstance(answer, Refused) and answer.scope_missing)

    async def futures_probe(self, quote: str) -> FuturesSupport:
        """Futures on OKX are not a key permission but the account mode (acctLv, §2.2)."""
        if self._info is None:  # key_info not run (or refused): one read, no guess
            await self.key_info()
        info = self._info
        if info is None:
            return FuturesSupport(False, "OKX account mode (acctLv) not readable")
        if not info.derivatives:
            return FuturesSupport(
                False,
                f"the OKX account is in {info.mode} (acctLv {info.account_level}): derivatives "
                "cannot be traded; switch the account mode to Spot and futures (or a margin "
                "mode) on OKX, or move the strategy to spot",
            )
        detail = f"{info.mode} (acctLv {info.account_level}) trades swaps"
        if info.position_mode and info.position_mode != "net_mode":
            # a paper bot does not care; a live one refuses to send (okx_futures_trading.py)
            detail += (
                f"; position mode {info.position_mode}: live futures bots trade only in "
                "net_mode (Buy/Sell), switch it on OKX before going live"
            )
        return FuturesSupport(True, detail)

    async def attach_markets(self, cache: MarketSource, *, futures: bool) -> None:
        self._client.set_markets_from_exchange(await cache.source(self._spec))

    def pair_problem(self, pair: str, *, futures: bool) -> str | None:
        markets: dict[str, Any] = self._client.markets or {}
        if futures:
            quote = pair.split("/")[1]
            return market_problem(markets.get(f"{pair}:{quote}"), pair, "USDT swap", "OKX")
        market = markets.get(pair)
        problem = market_problem(market, pair, "spot", "OKX")
        if problem and market is not None:
            state = (market.get("info") or {}).get("state")
            return f"{problem} (state {state!r}, not live)"
        return problem


if TYPE_CHECKING:
    from backfuture_daemon.exchanges.port import ExchangeAdapter

    def _conforms(connection: Connection, ctx: AdapterContext) -> ExchangeAdapter:
        """mypy checks the adapter against the port here, before registry.py references it."""
        return OkxAdapter(connection, ctx)
