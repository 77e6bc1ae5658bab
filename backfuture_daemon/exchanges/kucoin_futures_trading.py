"""Live trading on KuCoin futures (USDT-margined linear perpetuals) behind `TradingPort`.

Built by exchanges/venue_ports.py (`futures_port`) for a live bot with `market: futures`; the
flow every futures port shares (base <-> contracts, reduce-only, place/cancel/lookup by client
id, rules, position, balances) is exchanges/futures_trading.py's. KuCoin's part: the perpetual
`BTC/USDT:USDT` (XBTUSDTM) trades in whole contracts (lots of `contractSize` base); every order
carries marginMode ISOLATED and the strategy's leverage, and `reduceOnly` when its request says
so. Orders are placed, cancelled and looked up by clientOid (at most 40 characters); a duplicate
clientOid returns the existing order. `position(pair)` reads GET /api/v1/position. Fills carry
the order id only: the clientOid is read from orders seen before or looked up. Lists page by
`currentPage` (newest first). Balances are the futures account's: the settle currency's
available balance free, position + order margin locked.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

from backfuture_daemon.exchanges import kucoin
from backfuture_daemon.exchanges.futures_trading import (
    SETTLE,
    CcxtFuturesTrading,
    contract_rules,
    perpetual,
)
from backfuture_daemon.exchanges.order_values import dec

if TYPE_CHECKING:
    from backfuture_daemon.configuration.models import Endpoints
    from backfuture_daemon.exchanges.clients import ClientSpec
    from backfuture_daemon.exchanges.port import OrderRequest

__all__ = ["SETTLE", "KucoinFuturesTrading", "contract_rules", "perpetual"]

#: rows per page of fills and done orders, and the most pages read (KuCoin pages newest first).
PAGE, MAX_PAGES = 100, 50


class KucoinFuturesTrading(CcxtFuturesTrading):
    """`TradingPort` for one KuCoin connection's futures account at one leverage (isolated
    margin); reduce-only per order (`OrderRequest.reduce_only`). `await close()` at the end."""

    venue_name = "KuCoin futures"

    @classmethod
    def futures_spec(cls, endpoints: Endpoints | None) -> ClientSpec:
        return kucoin.client_spec(endpoints, futures=True)

    def _order_params(self, cid: str, order: OrderRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "clientOid": cid,
            "marginMode": "isolated",
            "leverage": self.leverage,
        }
        if order.reduce_only:
            params["reduceOnly"] = True
        return params

    def _by_client_id(self, cid: str) -> dict[str, Any]:
        return {"clientOid": cid}

    def _fill_client_id(self, info: Mapping[str, Any]) -> object:
        return info.get("clientOid")

    async def _order_rows(self, symbol: str, start: int | None) -> list[dict[str, Any]]:
        rows = await self._paged(
            lambda page: self._client.fetch_open_orders(symbol, None, None, page)
        )
        rows += await self._paged(
            lambda page: self._client.fetch_closed_orders(symbol, start, None, page)
        )
        return rows

    async def _fill_rows(self, symbol: str, start: int | None) -> list[dict[str, Any]]:
        return await self._paged(
            lambda page: self._client.fetch_my_trades(symbol, start, PAGE, page)
        )

    async def _paged(
        self, fetch: Callable[[dict[str, Any]], Awaitable[list[dict[str, Any]]]]
    ) -> list[dict[str, Any]]:
        """Every row of a paged KuCoin list (`currentPage` 1, 2, ...) until a short page, a page
        with nothing new, or MAX_PAGES."""
        rows: list[dict[str, Any]] = []
        seen: set[str] = set()
        for page in range(1, MAX_PAGES + 1):
            batch = await self._call(partial(fetch, {"currentPage": page, "pageSize": PAGE}))
            new = [r for r in batch if str(r.get("id")) not in seen]
            seen.update(str(r.get("id")) for r in new)
            rows += new
            if len(batch) < PAGE or not new:
                break
        return rows

    async def _position_contracts(self, market: Mapping[str, Any]) -> Decimal:
        """GET /api/v1/position: currentQty contracts, signed (none when not open)."""
        contract = str(market.get("id") or "")
        raw = await self._call(lambda: self._client.futuresPrivateGetPosition({"symbol": contract}))
        data = raw.get("data") if isinstance(raw, dict) else None
        if not isinstance(data, dict) or data.get("isOpen") in (False, "false"):
            return Decimal(0)
        return dec(data.get("currentQty"))

    async def _account(self) -> tuple[Decimal, Decimal]:
        """GET /api/v1/account-overview: available balance; position + order margin locked."""
        raw = await self._call(
            lambda: self._client.futuresPrivateGetAccountOverview({"currency": SETTLE})
        )
        data = raw.get("data") if isinstance(raw, dict) else None
        data = data if isinstance(data, dict) else {}
        locked = dec(data.get("positionMargin")) + dec(data.get("orderMargin"))
        return dec(data.get("availableBalance")), locked
