"""MEXC (spot v3 + contract v1) behind the ExchangeAdapter interface.

Built by registry.py for connections with `exchange: mexc`; driven by probes.ConnectionTester.
Uses ccxt implicit methods so no call triggers load_markets; markets come from the shared cache.
Facts used: reference/exchanges.md §0.2 (apiKeyInfo), §0.4 (futures orders disabled), §0.6, §2.
"""

from __future__ import annotations

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
from backfuture_daemon.exchanges.port import FuturesSupport, KeyInfo, ServerTime

if TYPE_CHECKING:
    from backfuture_daemon.configuration.models import Connection, Endpoints
    from backfuture_daemon.exchanges.port import MarketSource

RECV_WINDOW_MS = 5000
WITHDRAW_SCOPES = frozenset({"SPOT_WITHDRAW_WRITE", "SPOT_WITHDRAW", "WITHDRAW"})
#: Decision (issue 3 review): SPOT_WITHDRAW_READ alone only reads withdrawal history and
#: addresses; it cannot move funds, so it is not "withdraw enabled". It is named in the withdraw
#: step's reason. (ccxt's load_markets would need it, reference §0.6; we switch that call off.)
READ_SCOPES = frozenset({"SPOT_ACCOUNT_READ", "SPOT_DEAL_READ"})
TRADE_SCOPE = "SPOT_DEAL_WRITE"
FUTURES_DISABLED = (
    "MEXC has disabled futures order placement by API since 2022-07 "
    "(code 1002 'Contract not allow place order!'); futures bots cannot run on MEXC"
)


def client_spec(endpoints: Endpoints | None) -> ClientSpec:
    urls: dict[str, Any] = {}
    base = endpoints.spot if endpoints else None
    if base:
        urls = {
            "spot": {"public": base, "private": base},
            "contract": {"public": f"{base}/api/v1/contract", "private": f"{base}/api/v1/private"},
        }
    return ClientSpec(
        ccxt_id="mexc",
        urls=urls,
        options={"recvWindow": RECV_WINDOW_MS, "adjustForTimeDifference": False},
        # load_markets would otherwise call the private capital/config/getall, which needs
        # SPOT_WITHDRAW_READ: a least-privilege key would fail (reference §0.6).
        has={"fetchCurrencies": False},
        loopback=endpoints_loopback(endpoints),
    )


def parse_key_info(data: dict[str, Any]) -> KeyInfo:
    """`GET /api/v3/apiKeyInfo` -> KeyInfo (reference §2.4)."""
    scopes = tuple(s.upper() for s in split_list(data.get("permissions")))
    validity = data.get("remainingValidity")
    status = str(data.get("status") or "VALID").upper()
    return KeyInfo(
        read=set(scopes) >= READ_SCOPES,
        trade=TRADE_SCOPE in scopes,
        futures=any(s.startswith("CONTRACT_") for s in scopes),
        withdraw=any(s in WITHDRAW_SCOPES or s.endswith("WITHDRAW_WRITE") for s in scopes),
        ip_whitelist=split_list(data.get("ipWhiteList")),
        expires_in_days=float(validity) if validity not in (None, "") else None,
        valid=status == "VALID",
        scopes=scopes,
        invalid_reason=(
            ""
            if status == "VALID"
            else f"MEXC reports the key's status as {status} (not VALID): create a new key"
        ),
        withdraw_read_scopes=tuple(s for s in scopes if "WITHDRAW" in s and "WRITE" not in s),
    )


class MexcAdapter(CcxtAdapter):
    exchange = "mexc"
    supports_futures = False
    clock_window_ms = float(RECV_WINDOW_MS)
    clock_ahead_ms = 1000.0  # MEXC: timestamp < serverTime + 1000

    def __init__(self, connection: Connection, ctx: AdapterContext) -> None:
        super().__init__(connection, ctx, client_spec(connection.endpoints))
        self._access_key = connection.api_key.get_secret_value()
        self._key_info_missing = False

    async def server_time(self) -> ServerTime:
        return await self._time_sample(self._client.spotPublicGetTime, lambda d: d["serverTime"])

    async def maintenance(self) -> str | None:
        data = await self._client.spotPublicGetPing()
        return None if not data else f"ping answered {str(data)[:80]}"

    async def balance(self, currencies: tuple[str, ...]) -> str:
        data = await self._client.spotPrivateGetAccount()
        rows = data.get("balances") if isinstance(data, dict) else None
        free = {
            str(r.get("asset")).upper(): str(r.get("free", "0"))
            for r in rows or []
            if isinstance(r, dict)
        }
        return balance_summary("spot account", free, currencies)

    async def key_info(self) -> KeyInfo | None:
        # An older deployment without the endpoint (404 / unknown code), or a key whose scopes
        # do not cover it: fall back to probes.
        data = await self.guarded(
            lambda: self._client.spotPrivateGetApiKeyInfo({"accessKey": self._access_key}),
            keep=lambda r: r.not_found or r.scope_missing or r.business_rule,
        )
        if isinstance(data, Refused):
            self._key_info_missing = True
            return None
        return parse_key_info(data) if isinstance(data, dict) else None

    async def trade_probe(self, symbols: tuple[str, ...]) -> bool:
        """POST /api/v3/order/test: validated by the gateway (scope first), never matched."""
        params = {
            "symbol": self._probe_market_id(symbols),
            "side": "BUY",
            "type": "LIMIT",
            "quantity": "1",
            "price": "0.0001",
        }
        answer = await self.guarded(
            lambda: self._client.spotPrivatePostOrderTest(params),
            keep=lambda r: r.scope_missing or r.business_rule,
        )
        return not (isinstance(answer, Refused) and answer.scope_missing)

    def _probe_market_id(self, symbols: tuple[str, ...]) -> str:
        markets: dict[str, Any] = self._client.markets or {}
        for s in symbols:
            if s in markets:
                return str(markets[s]["id"])
        for m in markets.values():
            if m.get("spot") and m.get("active"):
                return str(m["id"])
        return "BTCUSDT"

    async def futures_probe(self, quote: str) -> FuturesSupport:
        """Always unavailable; one cheap contract call says what the key could do there."""
        if self._key_info_missing:
            return FuturesSupport(False, FUTURES_DISABLED)  # keep the test within 5 requests
        answer = await self.guarded(
            self._client.contractPrivateGetAccountAssets, keep=lambda _: True
        )
        if isinstance(answer, Refused):
            return FuturesSupport(
                False, f"{FUTURES_DISABLED} (contract account: {answer.c.detail})"
            )
        return FuturesSupport(False, f"{FUTURES_DISABLED} (contract account readable)")

    async def attach_markets(self, cache: MarketSource, *, futures: bool) -> None:
        # MEXC's fetch_markets loads spot and contract markets together: one source.
        self._client.set_markets_from_exchange(await cache.source(self._spec))

    def pair_problem(self, pair: str, *, futures: bool) -> str | None:
        quote = pair.split("/")[1]
        symbol = f"{pair}:{quote}" if futures else pair
        market = (self._client.markets or {}).get(symbol)
        return market_problem(market, pair, "futures" if futures else "spot", "MEXC")
