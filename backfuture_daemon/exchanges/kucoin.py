"""KuCoin (spot; futures on its own host) behind the ExchangeAdapter interface.

Built by registry.py for connections with `exchange: kucoin`; driven by probes.ConnectionTester.
One `kucoin` client signs both hosts (futuresPrivate* share the signing). Partner headers are off,
UTA/HF detection is off, and markets come from the shared cache (reference §0.6, §4, §10).
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
    split_list,
)
from backfuture_daemon.exchanges.clients import ClientSpec
from backfuture_daemon.exchanges.port import FuturesSupport, KeyInfo, ServerTime, epoch_seconds

if TYPE_CHECKING:
    from backfuture_daemon.configuration.models import Connection, Endpoints
    from backfuture_daemon.exchanges.port import MarketSource

CLOCK_WINDOW_MS = 5000.0
WITHDRAW_PERMISSIONS = frozenset({"transfer", "withdrawal", "withdraw"})
#: FlexTransfer between the user's own accounts: not a withdrawal, but warned about (bots.md §1.2).
INNER_TRANSFER_PERMISSIONS = frozenset({"innertransfer"})
#: V1/V2 keys are refused by newer endpoints (400008, reference §6): only V3 keys pass.
MIN_API_VERSION = 3


def _urls(endpoints: Endpoints | None) -> dict[str, Any]:
    urls: dict[str, Any] = {}
    if endpoints and endpoints.spot:
        s = endpoints.spot
        urls.update({"public": s, "private": s, "uta": s, "utaPrivate": s})
    if endpoints and endpoints.futures:
        urls.update({"futuresPublic": endpoints.futures, "futuresPrivate": endpoints.futures})
    return urls


def client_spec(endpoints: Endpoints | None, *, futures: bool = False) -> ClientSpec:
    """`kucoin` for spot (and futures private calls); `kucoinfutures` only loads swap markets."""
    return ClientSpec(
        ccxt_id="kucoinfutures" if futures else "kucoin",
        urls=_urls(endpoints),
        options={
            "uta": False,
            "hf": False,
            "fetchMarkets": {"types": ["swap"] if futures else ["spot"], "fetchTickersFees": False},
        },
        # No partner/broker headers: they carry ccxt's partner signature, not ours.
        options_replace={"partner": {}},
        load_markets_params={"marginables": False},
        loopback=endpoints_loopback(endpoints),
    )


def parse_key_info(data: dict[str, Any]) -> KeyInfo:
    """`GET /api/v1/user/api-key` `data` -> KeyInfo (reference §4.5); IPs come masked `a.**.d`."""
    perms = split_list(data.get("permission"))
    lower = {p.lower() for p in perms}
    version = _int_or_none(data.get("apiVersion"))
    old_key = version is not None and version < MIN_API_VERSION
    return KeyInfo(
        read="general" in lower,
        trade="spot" in lower,
        futures="futures" in lower,
        withdraw=bool(lower & WITHDRAW_PERMISSIONS),
        ip_whitelist=split_list(data.get("ipWhitelist")),
        expires_in_days=None,
        valid=not old_key,
        scopes=perms,
        invalid_reason=(
            f"KuCoin reports this key as API version {version}; V1 & V2 keys are no longer "
            "supported (code 400008): create a V3 API key"
            if old_key
            else ""
        ),
        transfer_scopes=tuple(p for p in perms if p.lower() in INNER_TRANSFER_PERMISSIONS),
        created_at=epoch_seconds(data.get("createdAt")),
    )


def _int_or_none(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def _data(response: Any) -> Any:
    return response.get("data") if isinstance(response, dict) else None


class KucoinAdapter(CcxtAdapter):
    exchange = "kucoin"
    supports_futures = True
    clock_window_ms = CLOCK_WINDOW_MS
    clock_ahead_ms = CLOCK_WINDOW_MS  # KuCoin: ±5 s

    def __init__(self, connection: Connection, ctx: AdapterContext) -> None:
        super().__init__(connection, ctx, client_spec(connection.endpoints))
        self._futures_spec = client_spec(connection.endpoints, futures=True)
        self._futures_markets: dict[str, Any] = {}
        #: HF ("high-frequency") trading account, learned by `balance` (reference §4.2).
        self.hf: bool | None = None

    async def server_time(self) -> ServerTime:
        return await self._time_sample(self._client.publicGetTimestamp, _data)

    async def maintenance(self) -> str | None:
        data = _data(await self._client.publicGetStatus()) or {}
        status = str(data.get("status", "open"))
        if status == "open":
            return None
        msg = str(data.get("msg") or "")[:80]
        return f"status {status!r}" + (f" ({msg})" if msg else "")

    async def balance(self, currencies: tuple[str, ...]) -> str:
        """All accounts (no `type`, so no row is dropped), then the trading account's rows.

        An HF account keeps its trading balance under `trade_hf`: read as `trade` (ccxt's
        default with options.hf False) it looks empty (reference §4.2). The mode is taken from
        the rows; only when no trading row exists is `/api/v1/hf/accounts/opened` asked. Later
        calls of this connection (the trade probe) then use the HF endpoints.
        """
        rows = [
            r for r in _data(await self._client.privateGetAccounts()) or [] if isinstance(r, dict)
        ]
        types = {str(r.get("type")) for r in rows}
        if "trade_hf" in types:
            hf = True
        elif "trade" in types:
            hf = False
        else:
            hf = bool(_data(await self._client.privateGetHfAccountsOpened()))
        self.hf = hf
        self._client.options["hf"] = hf
        kind = "trade_hf" if hf else "trade"
        free = {
            str(r.get("currency")).upper(): str(r.get("available", "0"))
            for r in rows
            if r.get("type") == kind
        }
        label = "HF trading account (trade_hf)" if hf else "classic trading account (trade)"
        return balance_summary(label, free, currencies)

    async def key_info(self) -> KeyInfo | None:
        response = await self.guarded(
            self._client.privateGetUserApiKey, keep=lambda r: r.not_found or r.business_rule
        )
        if isinstance(response, Refused):
            return None
        data = _data(response)
        return parse_key_info(data) if isinstance(data, dict) else None

    async def trade_probe(self, symbols: tuple[str, ...]) -> bool:
        """POST /api/v1/orders/test (HF: /api/v1/hf/orders/test): checks the Spot permission
        without placing an order."""
        market_id = "BTC-USDT"
        markets: dict[str, Any] = self._client.markets or {}
        for s in symbols:
            if s in markets:
                market_id = str(markets[s]["id"])
                break
        body = {
            "clientOid": uuid.uuid4().hex,
            "side": "buy",
            "symbol": market_id,
            "type": "limit",
            "price": "0.0001",
            "size": "1",
        }
        test_order = (
            self._client.privatePostHfOrdersTest if self.hf else self._client.privatePostOrdersTest
        )
        answer = await self.guarded(
            lambda: test_order(body), keep=lambda r: r.scope_missing or r.business_rule
        )
        return not (isinstance(answer, Refused) and answer.scope_missing)

    async def futures_probe(self, quote: str) -> FuturesSupport:
        """Futures host reachable and the futures account readable with this key."""
        data = _data(await self._client.futuresPrivateGetAccountOverview({"currency": quote}))
        available = data.get("availableBalance") if isinstance(data, dict) else None
        shown = f"{quote} {available} available" if available is not None else quote
        return FuturesSupport(True, f"futures account readable ({shown})")

    async def attach_markets(self, cache: MarketSource, *, futures: bool) -> None:
        self._client.set_markets_from_exchange(await cache.source(self._spec))
        if futures:
            source = await cache.source(self._futures_spec)
            self._futures_markets = source.markets or {}

    def pair_problem(self, pair: str, *, futures: bool) -> str | None:
        quote = pair.split("/")[1]
        if futures:
            market = self._futures_markets.get(f"{pair}:{quote}")
        else:
            market = (self._client.markets or {}).get(pair)
        return market_problem(market, pair, "futures" if futures else "spot", "KuCoin")
