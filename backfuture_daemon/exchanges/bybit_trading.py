"""Live spot trading on Bybit (v5, unified account): `CcxtTrading` with what Bybit does
differently. Built by exchanges/venue_ports.py. The v5 lookups, row parsing and paging it shares
with the linear port are in exchanges/bybit_orders.py.

* Orders are placed through ccxt's createOrder with `orderLinkId` (1..36 letters, digits, `-`,
  `_`); a market order's qty is sent in the base coin (`marketUnit=baseCoin`).
* ccxt cannot find or cancel an order by client id on a unified account (its fetchOrder sends
  `orderId=None`, its cancelOrder drops `clientOrderId`): lookups read `GET /v5/order/realtime`
  by `orderLinkId` (open and recently closed orders), then `GET /v5/order/history`; cancels send
  `orderLinkId` to `POST /v5/order/cancel`. Cancelling an order already filled or cancelled
  (110001) answers its final state.
* Placing an orderLinkId again after a lost answer is refused as a duplicate (170141): the
  existing order is looked up and returned, never a second one.
* Executions (`GET /v5/execution/list`) name their `orderLinkId`. Bybit answers at most 7 days
  per request: older starts are read week by week. Lists are cursor-paged (`nextPageCursor`).
* A UID rate limit (10006) names its reset time in `X-Bapi-Limit-Reset-Timestamp`, read as the
  wait (bybit.BybitLimits). Rows are read from Bybit's decimal strings directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backfuture_daemon.exchanges.bybit_orders import (
    EXECUTION_PAGE,
    LINK_ID,
    MAX_PAGES,
    MAX_WEEKS,
    ORDER_PAGE,
    WEEK_MS,
    BybitOrders,
    Endpoint,
    Rows,
    order_ack,
)

if TYPE_CHECKING:
    from backfuture_daemon.configuration.models import Connection
    from backfuture_daemon.exchanges.ccxt_base import AdapterContext
    from backfuture_daemon.exchanges.markets import MarketCache


class BybitTrading(BybitOrders):
    """`TradingPort` for one Bybit connection (spot of the unified trading account)."""

    category = "spot"

    def __init__(self, connection: Connection, ctx: AdapterContext, markets: MarketCache) -> None:
        super().__init__(connection, ctx, markets)
        self._record_limit_reset()

    async def _symbol(self, pair: str) -> str:
        """Bybit's id of `pair` (BTCUSDT), markets loaded from the shared cache first."""

        async def market_id() -> str:
            return str(self._client.market(pair)["id"])

        return await self._call(market_id)


__all__ = [
    "EXECUTION_PAGE",
    "LINK_ID",
    "MAX_PAGES",
    "MAX_WEEKS",
    "ORDER_PAGE",
    "WEEK_MS",
    "BybitTrading",
    "Endpoint",
    "Rows",
    "order_ack",
]
