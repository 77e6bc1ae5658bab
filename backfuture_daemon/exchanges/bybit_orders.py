"""What Bybit's spot and linear trading ports share (bybit_trading.py, bybit_futures_trading.py):
v5 order lookups by `orderLinkId`, row parsing and cursor paging, for one `category`.

* `orderLinkId` is 1..36 letters, digits, `-` and `_`: anything else is refused before sending.
* ccxt cannot find or cancel an order by client id on a unified account: lookups read `GET
  /v5/order/realtime` by orderLinkId (open and recently closed), then `/v5/order/history`;
  cancels send it to `POST /v5/order/cancel` (110001 on a done order: its final state).
* Lists are cursor-paged (`nextPageCursor`); history and executions are read a week per request
  (Bybit's widest window); rows are read from Bybit's decimal strings directly.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

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

#: orderLinkId: up to 36 letters, digits, dashes and underscores (create-order doc).
LINK_ID = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
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


def seconds(ms: object) -> float | None:
    """A Bybit epoch-ms string in epoch seconds; None when missing or not a number."""
    try:
        return float(str(ms)) / 1000.0 if ms not in (None, "") else None
    except ValueError:
        return None


def result_of(answer: object) -> dict[str, Any]:
    """The `result` object of a v5 answer (empty when it has none)."""
    result = answer.get("result") if isinstance(answer, dict) else None
    return result if isinstance(result, dict) else {}


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
        timestamp=seconds(row.get("createdTime")),
    )


class BybitOrders(CcxtTrading, BybitLimits):
    """The v5 order and execution reads of one `category` ("spot", "linear"); a port sets
    `category`, implements `_symbol` and may answer rows its own way (`_ack`, `_fee_coin`)."""

    category = "spot"

    def _client_id(self, client_order_id: str) -> str:
        cid = super()._client_id(client_order_id)
        if not LINK_ID.match(cid):
            raise OrderRejected(
                TradingErrorClass.ORDER_REJECTED,
                "orderLinkId may hold only letters, digits, '-' and '_' on bybit",
            )
        return cid

    async def _symbol(self, pair: str) -> str:
        """Bybit's id of `pair`'s instrument (BTCUSDT), markets loaded first."""
        raise NotImplementedError

    def _row_ack(self, row: dict[str, Any], pair: str, cid: str = "") -> OrderAck:
        """One order row as the port answers it."""
        return order_ack(row, pair, cid)

    def _fee_coin(self, pair: str, side: Side) -> str:
        """The fee currency of an execution that names none: spot fees are charged in the coin
        received."""
        base, quote = pair.split("/")
        return base if side is Side.BUY else quote

    async def _pages(self, endpoint: Endpoint, query: dict[str, Any]) -> Rows:
        """Every row of a cursor-paged v5 list (up to MAX_PAGES pages)."""
        rows: Rows = []
        params = dict(query)
        for _ in range(MAX_PAGES):
            result = result_of(await self._call(partial(endpoint, params)))
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
        query = {"category": self.category, "symbol": await self._symbol(pair), "orderLinkId": cid}
        for endpoint in (
            self._client.privateGetV5OrderRealtime,
            self._client.privateGetV5OrderHistory,
        ):
            for row in result_of(await self._call(partial(endpoint, query))).get("list") or []:
                if isinstance(row, dict) and row.get("orderLinkId") == cid:
                    return self._remember(self._row_ack(row, pair, cid))
        return None

    async def cancel(self, pair: str, client_order_id: str) -> OrderAck:
        cid = self._client_id(client_order_id)
        query = {"category": self.category, "symbol": await self._symbol(pair), "orderLinkId": cid}
        try:
            await self._call(partial(self._client.privatePostV5OrderCancel, query))
        except OrderRejected as refused:  # 110001: unknown, or already filled / cancelled
            return await self._known(pair, cid, refused, final=True)
        after = await self.fetch_order_by_client_id(pair, cid)
        if after is None:
            raise OrderRejected(TradingErrorClass.ORDER_REJECTED, f"no order {cid} on {pair}")
        return after

    async def open_orders(self, pair: str) -> tuple[OrderAck, ...]:
        query = {"category": self.category, "symbol": await self._symbol(pair), "limit": ORDER_PAGE}
        rows = await self._pages(self._client.privateGetV5OrderRealtime, query)
        acks = (self._remember(self._row_ack(r, pair)) for r in rows)
        return tuple(a for a in acks if a.state is OrderState.OPEN)

    async def orders_since(self, pair: str, since: float) -> tuple[OrderAck, ...]:
        """Every order on `pair`, open (real-time) and done (history, week by week from
        `since`; since 0: the last 7 days): what a lost state directory's rebuild reads."""
        symbol = await self._symbol(pair)
        base = {"category": self.category, "symbol": symbol, "limit": ORDER_PAGE}
        rows = await self._pages(self._client.privateGetV5OrderRealtime, base)
        for window in self._weeks(since):
            rows += await self._pages(self._client.privateGetV5OrderHistory, {**base, **window})
        acks: dict[str, OrderAck] = {}
        for row in rows:
            ack = self._remember(self._row_ack(row, pair))
            if ack.order_id:
                acks.setdefault(ack.order_id, ack)
        return tuple(sorted(acks.values(), key=lambda a: (a.timestamp or 0.0, a.order_id)))

    async def fills_since(self, pair: str, since: float) -> tuple[Fill, ...]:
        """The account's executions on `pair` from `since` (epoch s, inclusive), oldest first,
        each with its order's orderLinkId."""
        symbol = await self._symbol(pair)
        fills: dict[str, Fill] = {}
        for window in self._weeks(since):
            query = {"category": self.category, "symbol": symbol, "execType": "Trade",
                     "limit": EXECUTION_PAGE, **window}  # fmt: skip
            for row in await self._pages(self._client.privateGetV5ExecutionList, query):
                order_id = str(row.get("orderId") or "")
                cid = row.get("orderLinkId") or self._cids.get(order_id)
                side = Side.BUY if row.get("side") == "Buy" else Side.SELL
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
                    fee_currency=str(row.get("feeCurrency") or self._fee_coin(pair, side)),
                    timestamp=seconds(row.get("execTime")) or since,
                )
        return tuple(sorted(fills.values(), key=lambda f: (f.timestamp, f.trade_id)))
