"""Binance spot (ccxt `binance`) and USDⓈ-M perpetuals (`binanceusdm`) behind the
ExchangeAdapter interface.

Built by registry.py for connections with `exchange: binance`; driven by probes.ConnectionTester.
Implicit ccxt methods only (no call triggers load_markets); markets come from the shared cache,
loaded from the public exchangeInfo alone (reference/exchanges-more.md §A). Facts: §B, §C, §1.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from backfuture_daemon.exchanges.binance_codes import PERMISSION_CODE
from backfuture_daemon.exchanges.binance_keys import parse_api_restrictions
from backfuture_daemon.exchanges.ccxt_base import (
    AdapterContext,
    CcxtAdapter,
    Refused,
    balance_summary,
    endpoints_loopback,
    market_problem,
)
from backfuture_daemon.exchanges.clients import ClientSpec
from backfuture_daemon.exchanges.port import FuturesSupport, KeyInfo, ServerTime

if TYPE_CHECKING:
    from backfuture_daemon.configuration.models import Connection, Endpoints
    from backfuture_daemon.exchanges.port import MarketSource

#: Binance's default window (ccxt would send 10000); the server allows up to 60000.
RECV_WINDOW_MS = 5000
#: ccxt's `urls['api']` keys Binance uses, with their paths under the API host (§E: every key
#: a call may use must point at the endpoint, or it would still reach the real exchange).
_PATHS: dict[str, str] = {
    "public": "/api/v3",
    "private": "/api/v3",
    "v1": "/api/v1",
    "sapi": "/sapi/v1",
    "sapiV2": "/sapi/v2",
    "sapiV3": "/sapi/v3",
    "sapiV4": "/sapi/v4",
    "fapiPublic": "/fapi/v1",
    "fapiPublicV2": "/fapi/v2",
    "fapiPublicV3": "/fapi/v3",
    "fapiPrivate": "/fapi/v1",
    "fapiPrivateV2": "/fapi/v2",
    "fapiPrivateV3": "/fapi/v3",
    "fapiData": "/futures/data",
    "dapiPublic": "/dapi/v1",
    "dapiPrivate": "/dapi/v1",
    "dapiPrivateV2": "/dapi/v2",
    "dapiData": "/futures/data",
    "eapiPublic": "/eapi/v1",
    "eapiPrivate": "/eapi/v1",
    "papi": "/papi/v1",
    "papiV2": "/papi/v2",
}


def client_spec(endpoints: Endpoints | None, *, futures: bool = False) -> ClientSpec:
    """`binance` for spot (and every signed call: fapi signs the same way); `binanceusdm` only
    loads the USDⓈ-M perpetuals. One base URL serves both (the sandbox's Binance port)."""
    base = endpoints.spot if endpoints else None
    return ClientSpec(
        ccxt_id="binanceusdm" if futures else "binance",
        urls={name: f"{base}{path}" for name, path in _PATHS.items()} if base else {},
        options={
            "recvWindow": RECV_WINDOW_MS,
            "adjustForTimeDifference": False,
            # load_markets would otherwise sign three sapi calls (capital/config/getall,
            # margin/allPairs, isolated/allPairs) that a least-privilege or IP-restricted key
            # may be refused, and fetch futures lists no spot strategy needs (§A).
            "fetchMargins": False,
            "fetchMarkets": {"types": ["linear"] if futures else ["spot"]},
        },
        has={"fetchCurrencies": False},
        loopback=endpoints_loopback(endpoints),
    )


def plain_amount(value: object) -> str:
    """Binance's fixed 8 decimals as a person writes them: `1000.00000000` -> `1000`."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return "0"
    if not amount.is_finite():
        return "0"
    text = f"{amount:f}"
    return (text.rstrip("0").rstrip(".") if "." in text else text) or "0"


class BinanceAdapter(CcxtAdapter):
    exchange = "binance"
    supports_futures = True
    clock_window_ms = float(RECV_WINDOW_MS)
    clock_ahead_ms = 1000.0  # Binance: timestamp < serverTime + 1000

    def __init__(self, connection: Connection, ctx: AdapterContext) -> None:
        super().__init__(connection, ctx, client_spec(connection.endpoints))
        self._futures_spec = client_spec(connection.endpoints, futures=True)
        self._futures_markets: dict[str, Any] = {}

    async def server_time(self) -> ServerTime:
        return await self._time_sample(self._client.publicGetTime, lambda d: d["serverTime"])

    async def maintenance(self) -> str | None:
        """`GET /sapi/v1/system/status` (unsigned): status 0 normal, 1 system maintenance."""
        data = await self._client.sapiGetSystemStatus()
        status = str(data.get("status", "0")) if isinstance(data, dict) else "0"
        if status == "0":
            return None
        return f"system status {status} ({str(data.get('msg', ''))[:60]})"

    async def balance(self, currencies: tuple[str, ...]) -> str:
        data = await self._client.privateGetAccount({"omitZeroBalances": "true"})
        rows = data.get("balances") if isinstance(data, dict) else None
        free = {
            str(r.get("asset")).upper(): plain_amount(r.get("free"))
            for r in rows or []
            if isinstance(r, dict)
        }
        return balance_summary("spot account", free, currencies)

    async def key_info(self) -> KeyInfo | None:
        """The key's own flags; refused (a deployment without the endpoint, or a key it will
        not show): None, and the tester falls back to the order-test probe."""
        data = await self.guarded(
            self._client.sapiGetAccountApiRestrictions,
            keep=lambda r: r.not_found or r.business_rule or r.c.code == PERMISSION_CODE,
        )
        if isinstance(data, Refused) or not isinstance(data, dict):
            return None
        return parse_api_restrictions(data, self._now_ms())

    async def trade_probe(self, symbols: tuple[str, ...]) -> bool:
        """POST /api/v3/order/test: validated like an order (permission first), never matched.
        Without the trading permission Binance answers 401 -2015 (§1.2); ccxt may call that
        DDoSProtection after the balance read (§C.2), so the code decides, not the class."""
        params = {
            "symbol": self.market_id_of(symbols, "BTCUSDT"),
            "side": "BUY",
            "type": "MARKET",
            "quoteOrderQty": "10",
        }
        answer = await self.guarded(
            lambda: self._client.privatePostOrderTest(params),
            keep=lambda r: r.c.code == PERMISSION_CODE or r.business_rule,
        )
        return not (isinstance(answer, Refused) and answer.c.code == PERMISSION_CODE)

    async def futures_probe(self, quote: str) -> FuturesSupport:
        """GET /fapi/v3/account: the USDⓈ-M account readable with this key. Refused with
        -2015 (no `Enable Futures`, e.g. a key older than the futures account): unavailable."""
        data = await self.guarded(
            self._client.fapiPrivateV3GetAccount, keep=lambda r: r.c.code == PERMISSION_CODE
        )
        if isinstance(data, Refused):
            return FuturesSupport(
                False,
                f"USDⓈ-M futures account refused ({data.c.detail}): enable futures on the key; "
                "a key created before the futures account was opened cannot, create a new one",
            )
        rows = data.get("assets") if isinstance(data, dict) else None
        available = next(
            (r.get("availableBalance") for r in rows or [] if r.get("asset") == quote), None
        )
        shown = f"{quote} {available} available" if available is not None else quote
        return FuturesSupport(True, f"USDⓈ-M futures account readable ({shown})")

    async def attach_markets(self, cache: MarketSource, *, futures: bool) -> None:
        self._client.set_markets_from_exchange(await cache.source(self._spec))
        if futures:
            source = await cache.source(self._futures_spec)
            self._futures_markets = source.markets or {}

    def pair_problem(self, pair: str, *, futures: bool) -> str | None:
        if futures:
            quote = pair.split("/")[1]
            perpetual = self._futures_markets.get(f"{pair}:{quote}")
            return market_problem(perpetual, pair, "USDⓈ-M perpetual", "Binance")
        market = (self._client.markets or {}).get(pair)
        problem = market_problem(market, pair, "spot", "Binance")
        if problem or market is None:
            return problem
        info = market.get("info") or {}
        # ccxt's `active` is status == TRADING only; the API may still not trade it (§1.3).
        if info.get("isSpotTradingAllowed") is False:
            return (
                f"{pair}: spot market listed but not tradable by API (isSpotTradingAllowed false)"
            )
        return None


if TYPE_CHECKING:
    from backfuture_daemon.exchanges.port import ExchangeAdapter

    def _conforms(connection: Connection, ctx: AdapterContext) -> ExchangeAdapter:
        """mypy checks the adapter against the port here, before registry.py references it."""
        return BinanceAdapter(connection, ctx)
