"""Live spot trading on Bybit (v5, unified account): `CcxtTrading` with what Bybit does
differently. Built by exchanges/venue_ports.py.

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

import re
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from backfuture_daemon.exchanges.bybit import BybitLimits
from backfuture_daemon.exchanges.order_values import dec
from backfuture_daemon.exchanges.port import (
    Fill,
    OrderAck,
    OrderRejected,
    OrderState,
    Side,
    TradingErrorClass,
)
from backfuture_daemon.exchanges.trading import CcxtTrading

if TYPE_CHECKING:
    from backfuture_daemon.configuration.models import Connection
    from backfuture_daemon.exchanges.ccxt_base import AdapterContext
    from backfuture_daemon.exchanges.markets import MarketCache

#: orderLinkId: up to 36 letters, digits, dashes and underscores (create-order doc).
_LINK_ID = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
_STATES = {
    "New": OrderState.OPEN,
    "Created": OrderState.OPEN,
    "PartiallyFilled": OrderState.OPEN,
    "Untriggered": OrderState.OPEN,
    "Triggered": OrderState.OPEN,
    "Active": OrderState.OPEN,
    "PendingCancel": OrderState.OPEN,
    "Filled": OrderState.FILLED,
    "Cancelled": OrderState.CANCELED,
    "PartiallyFilledCanceled": OrderState.CANCELED,
    "Deactivated": OrderState.CANCELED,
    "Rejected": OrderState.REJECTED,
}
#: Bybit's widest window for history and executions (startTime..endTime).
WEEK_MS = 7 * 86_400_000
#: Page sizes: order lists take at most 50 rows, the execution list 100.
ORDER_PAGE = 50
EXECUTION_PAGE = 100
MAX_PAGES = 20
#: weeks read back at most (Bybit keeps two years; a bot's gap is far shorter).
MAX_WEEKS = 60
Rows = list[dict[str, Any]]
Endpoint = Callable[[dict[str, Any]], Awaitable[Any]]


def _seconds(ms: object) -> float | None:
    try:
        return float(str(ms)) / 1000.0 if ms not in (None, "") else None
    except ValueError:
        return None


def order_ack(row: dict[str, Any], pair: str, cid: str = "") -> OrderAck:
    """One v5 order row (realtime / history) as an `OrderAck`. A market Buy counted in the quote
    coin (`marketUnit` quoteCoin, Bybit's default) has the base amount it filled."""
    market = row.get("orderType") == "Market"
    unit = row.get("marketUnit") or ""
    by_value = market and (unit == "quoteCoin" or (not unit and row.get("side") == "Buy"))
    filled = dec(row.get("cumExecQty"))
    price, average = dec(row.get("price")), dec(row.get("avgPrice"))
    return OrderAck(
        client_order_id=str(row.get("orderLinkId") or cid),
        order_id=str(row.get("orderId") or ""),
        pair=pair,
        side=Side.BUY if row.get("side") == "Buy" else Side.SELL,
        state=_STATES.get(str(row.get("orderStatus")), OrderState.OPEN),
        amount=filled if by_value else dec(row.get("qty")),
        filled=filled,
        price=price if price and not market else None,
        average_price=average or None,
        timestamp=_seconds(row.get("createdTime")),
    )


class BybitTrading(CcxtTrading, BybitLimits):
    """`TradingPort` for one Bybit connection (spot of the unified trading account)."""

    def __init__(self, connection: Connection, ctx: AdapterContext, markets: MarketCache) -> None:
        super().__init__(connection, ctx, markets)
        self._record_limit_reset()

    def _client_id(self, client_order_id: str) -> str:
        cid = super()._client_id(client_order_id)
        if not _LINK_ID.match(cid):
            raise OrderRejected(
                TradingErrorClass.ORDER_REJECTED,
                "orderLinkId may hold only letters, digits, '-' and '_' on bybit",
            )
        return cid

    async def _symbol(self, pair: str) -> str:
        """Bybit's id of `pair` (BTCUSDT), markets loaded from the shared cache first."""

        async def market_id() -> str:
            return str(self._client.market(pair)["id"])

        return await self._call(market_id)

    async def _pages(self, endpoint: Endpoint, query: dict[str, Any]) -> Rows:
        """Every row of a cursor-paged v5 list (up to MAX_PAGES pages)."""
        rows: Rows = []
        params = dict(query)
        for _ in range(MAX_PAGES):
            answer = await self._call(partial(endpoint, params))
            result = answer.get("result") if isinstance(answer, dict) else None
            result = result if isinstance(result, dict) else {}
            page = [r for r in result.get("list") or [] if isinstance(r, dict)]
            rows += page
            cursor = result.get("nextPageCursor")
            if not cursor or not page:
                break
            params = {**query, "cursor": cursor}
        return rows

    def _weeks(self, since: float) -> list[dict[str, int]]:
        """The windows covering `since` (epoch s) until now, a week each; none given (since 0):
        Bybit's default, the last 7 days."""
        start = max(int(since * 1000), 0)
        if not start:
            return [{}]
        now = int(self._now_ms()) + 60_000
        windows: list[dict[str, int]] = []
        while start <= now and len(windows) < MAX_WEEKS:
            windows.append({"startTime": start, "endTime": min(start + WEEK_MS, now)})
            start += WEEK_MS + 1
        return windows or [{"startTime": start}]

    async def fetch_order_by_client_id(self, pair: str, client_order_id: str) -> OrderAck | None:
        """Real-time orders by orderLinkId (open, or closed recently), then the history."""
        cid = self._client_id(client_order_id)
        query = {"category": "spot", "symbol": await self._symbol(pair), "orderLinkId": cid}
        for endpoint in (
            self._client.privateGetV5OrderRealtime,
            self._client.privateGetV5OrderHistory,
        ):
            answer = await self._call(partial(endpoint, query))
            result = answer.get("result") if isinstance(answer, dict) else None
            rows = result.get("list") if isinstance(result, dict) else None
            for row in rows or []:
                if isinstance(row, dict) and row.get("orderLinkId") == cid:
                    return self._remember(order_ack(row, pair, cid))
        return None

    async def cancel(self, pair: str, client_order_id: str) -> OrderAck:
        cid = self._client_id(client_order_id)
        query = {"category": "spot", "symbol": await self._symbol(pair), "orderLinkId": cid}
        try:
            await self._call(partial(self._client.privatePostV5OrderCancel, query))
        except OrderRejected as refused:
            # 110001: unknown, or already filled / cancelled -> its final state if it exists
            if refused.error_class is not TradingErrorClass.ORDER_REJECTED:
                raise
            final = await self.fetch_order_by_client_id(pair, cid)
            if final is None or final.state is OrderState.OPEN:
                raise
            return final
        after = await self.fetch_order_by_client_id(pair, cid)
        if after is None:
            raise OrderRejected(TradingErrorClass.ORDER_REJECTED, f"no order {cid} on {pair}")
        return after

    async def open_orders(self, pair: str) -> tuple[OrderAck, ...]:
        query = {"category": "spot", "symbol": await self._symbol(pair), "limit": ORDER_PAGE}
        rows = await self._pages(self._client.privateGetV5OrderRealtime, query)
        acks = (self._remember(order_ack(r, pair)) for r in rows)
        return tuple(a for a in acks if a.state is OrderState.OPEN)

    async def fills_since(self, pair: str, since: float) -> tuple[Fill, ...]:
        """The account's executions on `pair` from `since` (epoch s, inclusive), oldest first,
        each with its order's orderLinkId."""
        symbol = await self._symbol(pair)
        base, quote = pair.split("/")
        fills: dict[str, Fill] = {}
        for window in self._weeks(since):
            query = {"category": "spot", "symbol": symbol, "execType": "Trade",
                     "limit": EXECUTION_PAGE, **window}  # fmt: skip
            for row in await self._pages(self._client.privateGetV5ExecutionList, query):
                order_id = str(row.get("orderId") or "")
                cid = row.get("orderLinkId") or self._cids.get(order_id)
                side = Side.BUY if row.get("side") == "Buy" else Side.SELL
                # spot fees are charged in the coin received
                fee_coin = row.get("feeCurrency") or (base if side is Side.BUY else quote)
                trade_id = str(row.get("execId") or "")
                fills[trade_id] = Fill(
                    trade_id=trade_id,
                    order_id=order_id,
                    client_order_id=str(cid) if cid else None,
                    pair=pair,
                    side=side,
                    price=dec(row.get("execPrice")),
                    amount=dec(row.get("execQty")),
                    fee=dec(row.get("execFee")),
                    fee_currency=str(fee_coin),
                    timestamp=_seconds(row.get("execTime")) or since,
                )
        return tuple(sorted(fills.values(), key=lambda f: (f.timestamp, f.trade_id)))

    async def orders_since(self, pair: str, since: float) -> tuple[OrderAck, ...]:
        """Every order on `pair`, open (real-time) and done (history, week by week from
        `since`; since 0: the last 7 days): what a lost state directory's rebuild reads."""
        symbol = await self._symbol(pair)
        rows = await self._pages(
            self._client.privateGetV5OrderRealtime,
            {"category": "spot", "symbol": symbol, "limit": ORDER_PAGE},
        )
        for window in self._weeks(since):
            query = {"category": "spot", "symbol": symbol, "limit": ORDER_PAGE, **window}
            rows += await self._pages(self._client.privateGetV5OrderHistory, query)
        acks: dict[str, OrderAck] = {}
        for row in rows:
            ack = self._remember(order_ack(row, pair))
            if ack.order_id:
                acks.setdefault(ack.order_id, ack)
        return tuple(sorted(acks.values(), key=lambda a: (a.timestamp or 0.0, a.order_id)))
