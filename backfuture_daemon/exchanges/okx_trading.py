"""Live spot trading on OKX: `CcxtTrading` with what OKX does differently. Built by
exchanges/venue_ports.py. What the spot and swap ports share (clOrdId check, per-order sCode
errors, rate-limit wait, row parsing, list paging, the fill and order reads) is in
exchanges/okx_orders.py.

* `clOrdId` is 1..32 letters and digits: anything else is refused before it is sent.
* An order OKX refuses comes as `"code":"1"` with the reason per order (`data[].sCode/sMsg`): that
  code is what gets classified (51008 insufficient funds; 51016 duplicated clOrdId, so a re-place
  after a lost answer finds the existing order; 50011 rate limited), not the envelope's "1".
* 429 / 50011 carry no Retry-After on OKX (reference §2.4 ⚠): wait one 2-second rate window.
* Cancelling an order already filled or canceled (51400-51402) answers its final state.
* Fills come from `trade/fills` (3 days; 60 requests / 2 s) while `since` lies inside that
  window, else `trade/fills-history` (3 months; 10 / 2 s) once per pair, then the 3-day list
  for what came since; paged by billId; each names its `clOrdId`.
* Orders since a time: orders-pending + orders-history (7 days) + the archive (3 months) for
  older starts, every final state (ccxt's fetchClosedOrders asks for `filled` only).
* Both lists are read from OKX's decimal strings directly (no floats).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING

from backfuture_daemon.exchanges.ccxt_base import AdapterContext
from backfuture_daemon.exchanges.okx_orders import (
    DAY_S,
    FILLS_WINDOW_S,
    MAX_PAGES,
    ORDERS_WINDOW_S,
    PAGE,
    RATE_WINDOW_S,
    Endpoint,
    OkxOrders,
    Rows,
    fill_of,
    okx_pages,
    order_ack,
    per_order_error,
)
from backfuture_daemon.exchanges.port import OrderAck, OrderRejected

if TYPE_CHECKING:
    from backfuture_daemon.configuration.models import Connection
    from backfuture_daemon.exchanges.markets import MarketCache


class OkxTrading(OkxOrders):
    """`TradingPort` for one OKX connection (spot)."""

    def __init__(self, connection: Connection, ctx: AdapterContext, markets: MarketCache) -> None:
        super().__init__(connection, ctx, markets)
        #: pair -> when this port last listed its fills (epoch seconds).
        self._listed_at: dict[str, float] = {}

    async def cancel(self, pair: str, client_order_id: str) -> OrderAck:
        cid = self._client_id(client_order_id)
        try:
            return await super().cancel(pair, cid)
        except OrderRejected as e:
            return await self._known(pair, cid, e, final=True)

    async def _pages(self, endpoint: Endpoint, params: dict[str, str], cursor: str) -> Rows:
        """Every row of a newest-first OKX list, paged with `after=<oldest cursor>`."""
        return await okx_pages(endpoint, params, cursor, PAGE)

    async def _list(self, endpoint: str, pair: str, start_ms: int, cursor: str) -> Rows:
        """All rows of one OKX list on `pair`'s spot instrument from `start_ms` (0: all)."""

        def fetch() -> Awaitable[Rows]:
            params = {"instType": "SPOT", "instId": str(self._client.market_id(pair))}
            if start_ms:
                params["begin"] = str(start_ms)
            return self._pages(getattr(self._client, endpoint), params, cursor)

        return await self._call(fetch)


__all__ = [
    "DAY_S",
    "FILLS_WINDOW_S",
    "MAX_PAGES",
    "ORDERS_WINDOW_S",
    "PAGE",
    "RATE_WINDOW_S",
    "OkxTrading",
    "fill_of",
    "order_ack",
    "per_order_error",
]
