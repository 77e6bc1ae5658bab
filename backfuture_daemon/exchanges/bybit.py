"""Bybit v5 (ccxt `bybit`): spot and USDT linear perpetuals of a unified trading account behind
the ExchangeAdapter interface.

Built by registry.py for connections with `exchange: bybit`; driven by probes.ConnectionTester.
Implicit ccxt methods only (no call triggers load_markets); markets come from the shared cache,
loaded from the public instruments-info alone (reference/exchanges-more.md §A). Facts: §B, §C, §3.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from backfuture_daemon.exchanges.bybit_codes import PERMISSION_CODE
from backfuture_daemon.exchanges.bybit_keys import parse_query_api
from backfuture_daemon.exchanges.ccxt_base import (
    AdapterContext,
    CcxtAdapter,
    Refused,
    balance_summary,
    endpoints_loopback,
    market_problem,
)
from backfuture_daemon.exchanges.clients import ClientSpec
from backfuture_daemon.exchanges.port import FuturesSupport, KeyInfo, ResponseMeta, ServerTime

if TYPE_CHECKING:
    from backfuture_daemon.configuration.models import Connection, Endpoints
    from backfuture_daemon.exchanges.port import MarketSource

#: Bybit's default window: server_time - recv_window <= timestamp < server_time + 1000.
RECV_WINDOW_MS = 5000
#: ccxt's `urls['api']` keys for Bybit; all are the one v5 host (§3.1). The host must not
#: contain "openapi" (ccxt would switch signing schemes).
_URL_KEYS = ("spot", "futures", "v2", "public", "private")
_RESET_HEADER = "x-bapi-limit-reset-timestamp"


def client_spec(endpoints: Endpoints | None) -> ClientSpec:
    """One client for spot and linear (one v5 host, one code namespace). Markets: spot plus
    linear from the public instruments-info only — ccxt would otherwise sign
    `/v5/asset/coin/query-info` (fetchCurrencies) and load inverse and six option lists (§A)."""
    base = endpoints.spot if endpoints else None
    return ClientSpec(
        ccxt_id="bybit",
        urls=dict.fromkeys(_URL_KEYS, base) if base else {},
        options={
            "recvWindow": RECV_WINDOW_MS,
            "adjustForTimeDifference": False,
            "fetchMarkets": {"types": ["spot", "linear"]},
            # every account is read as unified: no query-api + account/info round trip first
            "enableUnifiedAccount": True,
            "enableUnifiedMargin": False,
        },
        has={"fetchCurrencies": False},
        loopback=endpoints_loopback(endpoints),
    )


def _free(row: dict[str, Any]) -> str:
    """A unified-account coin's wallet balance less what open orders lock."""
    try:
        free = Decimal(str(row.get("walletBalance") or 0)) - Decimal(str(row.get("locked") or 0))
    except InvalidOperation:
        return str(row.get("walletBalance", "0"))
    return format(free.normalize(), "f") if free else "0"


class BybitLimits(CcxtAdapter):
    """What every Bybit client reads from its answers: the UID limit's reset time. Mixed into
    `BybitAdapter` (connection test) and bybit_trading.`BybitTrading` (live orders); each calls
    `_record_limit_reset()` once its client exists."""

    _reset_ms: float | None = None

    def _record_limit_reset(self) -> None:
        """Bybit sends no Retry-After: a UID-limited answer (10006) says when the limit resets in
        `X-Bapi-Limit-Reset-Timestamp` (epoch ms, server clock). Keep the last one seen."""
        original = self._client.on_rest_response

        def hook(
            code: Any, reason: Any, url: Any, method: Any, headers: Any, body: Any, *rest: Any
        ) -> Any:
            lowered = {str(k).lower(): v for k, v in (headers or {}).items()}
            try:
                self._reset_ms = float(lowered[_RESET_HEADER])
            except (KeyError, TypeError, ValueError):
                self._reset_ms = None
            return original(code, reason, url, method, headers, body, *rest)

        self._client.on_rest_response = hook

    def take_response(self) -> ResponseMeta:
        meta = super().take_response()
        reset, self._reset_ms = self._reset_ms, None
        if meta.retry_after is not None or reset is None:
            return meta
        server_now = self._now_ms() - float(self._client.options.get("timeDifference", 0) or 0)
        return ResponseMeta(meta.status, round(max(0.0, reset - server_now) / 1000.0, 3))


class BybitAdapter(BybitLimits):
    exchange = "bybit"
    supports_futures = True
    clock_window_ms = float(RECV_WINDOW_MS)
    clock_ahead_ms = 1000.0  # Bybit: timestamp < server_time + 1000

    def __init__(self, connection: Connection, ctx: AdapterContext) -> None:
        super().__init__(connection, ctx, client_spec(connection.endpoints))
        self._record_limit_reset()

    async def server_time(self) -> ServerTime:
        return await self._time_sample(self._client.publicGetV5MarketTime, lambda d: d["time"])

    async def maintenance(self) -> str | None:
        """`GET /v5/system/status`: an event in state `ongoing` is maintenance now ⚠."""
        data = await self._client.publicGetV5SystemStatus()
        result = data.get("result") if isinstance(data, dict) else None
        events = result.get("list") if isinstance(result, dict) else None
        for event in events or []:
            if isinstance(event, dict) and str(event.get("state", "")).lower() == "ongoing":
                return f"{str(event.get('title', 'maintenance'))[:60]} (ongoing)"
        return None

    async def balance(self, currencies: tuple[str, ...]) -> str:
        data = await self._client.privateGetV5AccountWalletBalance({"accountType": "UNIFIED"})
        result = data.get("result") if isinstance(data, dict) else None
        accounts = result.get("list") if isinstance(result, dict) else None
        free: dict[str, str] = {}
        for account in accounts or []:
            for row in account.get("coin") or [] if isinstance(account, dict) else []:
                if isinstance(row, dict):
                    free[str(row.get("coin")).upper()] = _free(row)
        return balance_summary("unified account", free, currencies)

    async def key_info(self) -> KeyInfo | None:
        """The key's own facts; a deployment without the endpoint: None (probe fallback)."""
        data = await self.guarded(
            self._client.privateGetV5UserQueryApi,
            keep=lambda r: r.not_found or r.business_rule,
        )
        if isinstance(data, Refused) or not isinstance(data, dict):
            return None
        result = data.get("result")
        return parse_query_api(result, self._now_ms()) if isinstance(result, dict) else None

    async def trade_probe(self, symbols: tuple[str, ...]) -> bool:
        """Bybit has no test-order endpoint: a spot order far below the minimum quantity is
        refused by a business rule after the permission check (10005 without `Spot.SpotTrade`)."""
        params = {
            "category": "spot",
            "symbol": self.market_id_of(symbols, "BTCUSDT"),
            "side": "Buy",
            "orderType": "Limit",
            "qty": "0.00000001",
            "price": "1",
        }
        answer = await self.guarded(
            lambda: self._client.privatePostV5OrderCreate(params),
            keep=lambda r: r.c.code == PERMISSION_CODE or r.business_rule,
        )
        return not (isinstance(answer, Refused) and answer.c.code == PERMISSION_CODE)

    async def futures_probe(self, quote: str) -> FuturesSupport:
        """USDT perpetuals trade from the unified wallet: `GET /v5/account/info` says whether the
        account is unified (unifiedMarginStatus 3+: UTA)."""
        data = await self.guarded(
            self._client.privateGetV5AccountInfo, keep=lambda r: r.c.code == PERMISSION_CODE
        )
        if isinstance(data, Refused):
            return FuturesSupport(False, f"account info refused ({data.c.detail})")
        result = data.get("result") if isinstance(data, dict) else None
        status = result.get("unifiedMarginStatus") if isinstance(result, dict) else None
        if isinstance(status, int) and status >= 3:
            return FuturesSupport(
                True, f"unified trading account: {quote} perpetuals trade from the unified wallet"
            )
        return FuturesSupport(
            False,
            f"classic account (unifiedMarginStatus {status}): upgrade to the unified trading "
            "account to trade USDT perpetuals by API",
        )

    async def attach_markets(self, cache: MarketSource, *, futures: bool) -> None:
        # Spot and linear load together (one spec, one shared copy per endpoint).
        self._client.set_markets_from_exchange(await cache.source(self._spec))

    def pair_problem(self, pair: str, *, futures: bool) -> str | None:
        quote = pair.split("/")[1]
        symbol = f"{pair}:{quote}" if futures else pair
        market = (self._client.markets or {}).get(symbol)
        kind = "USDT perpetual" if futures else "spot"
        return market_problem(market, pair, kind, "Bybit")


if TYPE_CHECKING:
    from backfuture_daemon.exchanges.port import ExchangeAdapter

    def _conforms(connection: Connection, ctx: AdapterContext) -> ExchangeAdapter:
        """mypy checks the adapter against the port here, before registry.py references it."""
        return BybitAdapter(connection, ctx)
