"""What OKX's spot and swap trading ports share (okx_trading.py, okx_futures_trading.py): the
wire-level reading of OKX's answers and the order/fill lists both page through.

* `clOrdId` is 1..32 letters and digits: anything else is refused before it is sent.
* A refused order comes as `"code":"1"`/`"2"` with the reason per order (`data[].sCode/sMsg`):
  `per_order_error` puts that code where classify reads it (51008, not "1"); a 429 / 50011 names
  no wait of its own, so it waits one 2-second rate window (`RATE_WINDOW_S`).
* Lists are newest first, paged with `after=<oldest cursor>` (`okx_pages`); order and fill rows
  are read from OKX's decimal strings directly (`order_ack`, `fill_of`).
* Fills: `trade/fills` (3 days) while `since` lies inside that window, else `fills-history`
  (3 months) once per pair; orders: orders-pending + orders-history (7 days) + the archive
  (3 months) for older starts, fresher lists winning (`OkxOrders`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

from backfuture_daemon.exchanges.classify import parse_body
from backfuture_daemon.exchanges.order_values import dec
from backfuture_daemon.exchanges.port import (
    Fill,
    OrderAck,
    OrderRejected,
    OrderState,
    Side,
    TradingErrorClass,
    TradingUnavailable,
)
from backfuture_daemon.exchanges.trading import CcxtTrading

T = TypeVar("T")
CLIENT_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
_STATES = {
    "live": OrderState.OPEN,
    "partially_filled": OrderState.OPEN,
    "filled": OrderState.FILLED,
    "canceled": OrderState.CANCELED,
    "mmp_canceled": OrderState.CANCELED,
}
DAY_S = 86_400.0
#: `trade/fills` keeps 3 days; an hour of margin for clocks and slow pages.
FILLS_WINDOW_S = 3 * DAY_S - 3_600.0
#: `trade/orders-history` keeps 7 days; older starts read the 3-month archive too.
ORDERS_WINDOW_S = 7 * DAY_S - 3_600.0
#: OKX counts its rate limits over 2-second windows and names no wait of its own.
RATE_WINDOW_S = 2.0
PAGE = 100
MAX_PAGES = 50
Rows = list[dict[str, Any]]
Endpoint = Callable[[dict[str, str]], Awaitable[Any]]


def per_order_error(exc: Exception) -> Exception:
    """`exc` with the first refused order's `sCode`/`sMsg` as its body when OKX answered
    `"code":"1"`/`"2"` (so classify reads 51008, not "1"); else `exc` itself."""
    body = parse_body(str(exc.args[0]) if exc.args else "")
    if body is None or str(body.get("code")) not in ("1", "2"):
        return exc
    data = body.get("data")
    rows = [r for r in data if isinstance(r, dict)] if isinstance(data, list) else []
    refused = [r for r in rows if str(r.get("sCode") or "0") != "0"]
    if not refused:
        return exc
    code, msg = str(refused[0].get("sCode")), str(refused[0].get("sMsg") or "")
    try:
        return type(exc)(f"okx {json.dumps({'code': code, 'msg': msg})}")
    except Exception:  # an exception class with another signature: keep the original
        return exc


def data_rows(response: Any) -> Rows:
    """The `data` rows of an OKX answer (none when it has none)."""
    data = response.get("data") if isinstance(response, dict) else None
    return [r for r in data or [] if isinstance(r, dict)]


def _ms(value: object) -> float | None:
    text = str(value or "")
    return int(text) / 1000.0 if text.isdigit() else None


def order_ack(row: dict[str, Any], pair: str) -> OrderAck:
    """One order row of orders-pending / orders-history, exact decimals from OKX's strings."""
    px, avg = row.get("px"), row.get("avgPx")
    filled = dec(row.get("accFillSz"))
    amount = dec(row.get("sz"))
    if row.get("tgtCcy") == "quote_ccy" and row.get("ordType") == "market":
        amount = filled  # a market buy sized in quote: sz is USDT, not the base amount
    return OrderAck(
        client_order_id=str(row.get("clOrdId") or ""),
        order_id=str(row.get("ordId") or ""),
        pair=pair,
        side=Side(str(row.get("side") or "buy").lower()),
        state=_STATES.get(str(row.get("state")), OrderState.OPEN),
        amount=amount,
        filled=filled,
        price=dec(px) if px else None,
        average_price=dec(avg) if avg else None,
        timestamp=_ms(row.get("cTime")),
    )


def fill_of(row: dict[str, Any], pair: str, known: dict[str, str]) -> Fill:
    """One row of trade/fills(-history); OKX's `fee` is negative when charged."""
    order_id = str(row.get("ordId") or "")
    cid = str(row.get("clOrdId") or "") or known.get(order_id)
    return Fill(
        trade_id=str(row.get("tradeId") or ""),
        order_id=order_id,
        client_order_id=cid or None,
        pair=pair,
        side=Side(str(row.get("side") or "buy").lower()),
        price=dec(row.get("fillPx")),
        amount=dec(row.get("fillSz")),
        fee=Decimal(0) - dec(row.get("fee")),
        fee_currency=str(row.get("feeCcy") or ""),
        timestamp=_ms(row.get("ts")) or 0.0,
    )


async def okx_pages(endpoint: Endpoint, params: dict[str, str], cursor: str, page: int) -> Rows:
    """Every row of a newest-first OKX list, `page` rows a request, paged with
    `after=<oldest cursor>` (up to MAX_PAGES requests)."""
    rows: Rows = []
    after = ""
    for _ in range(MAX_PAGES):
        query = {**params, "limit": str(page), **({"after": after} if after else {})}
        got = data_rows(await endpoint(query))
        rows += got
        after = str(got[-1].get(cursor) or "") if len(got) >= page else ""
        if not after:
            break
    return rows


class OkxOrders(CcxtTrading):
    """What both OKX ports do alike; each sets `_listed_at` (pair -> when its fills were last
    listed, epoch s) and implements `_list` for its instrument type."""

    _listed_at: dict[str, float]

    def _client_id(self, client_order_id: str) -> str:
        if not CLIENT_ID.match(client_order_id):
            raise OrderRejected(
                TradingErrorClass.ORDER_REJECTED,
                f"clOrdId must be 1..32 letters and digits on okx (got {len(client_order_id)} "
                "characters)",
            )
        return client_order_id

    async def _call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """`CcxtTrading._call` on the refused order's own sCode; a 429/50011 waits one window."""

        async def unwrapped() -> T:
            try:
                return await fn()
            except Exception as e:
                raise per_order_error(e) from None

        try:
            return await super()._call(unwrapped)
        except TradingUnavailable as e:
            if e.error_class is not TradingErrorClass.RATE_LIMITED or e.retry_after:
                raise
            raise TradingUnavailable(e.error_class, e.detail, RATE_WINDOW_S) from None

    async def _list(self, endpoint: str, pair: str, start_ms: int, cursor: str) -> Rows:
        """Every row of one OKX list on `pair`'s instrument from `start_ms` (0: all)."""
        raise NotImplementedError

    def _order_of(self, row: dict[str, Any], pair: str) -> OrderAck:
        """One order row as the port answers it (remembered)."""
        return self._remember(order_ack(row, pair))

    def _fills_in(self, pair: str) -> Callable[[Fill], Fill]:
        """How a fill row of `pair` is answered (called once per read, after the rows)."""
        return lambda fill: fill

    async def fills_since(self, pair: str, since: float) -> tuple[Fill, ...]:
        """The account's executions on `pair` from `since` (epoch seconds, inclusive), oldest
        first, each with its order's clOrdId."""
        start = max(int(since * 1000), 0)
        now = self._ctx.clock()
        # Older than 3 days: the 3-month list, once per pair and process; after that, what is
        # new since then is in the 3-day list (a bot idle for days must not poll the slow one).
        listed = self._listed_at.get(pair, 0.0)
        recent = max(since, listed) >= now - FILLS_WINDOW_S
        endpoint = "privateGetTradeFills" if recent else "privateGetTradeFillsHistory"
        rows = await self._list(endpoint, pair, start, "billId")
        answer = self._fills_in(pair)
        fills: dict[str, Fill] = {}
        for row in rows:
            fill = fill_of(row, pair, self._cids)
            if fill.timestamp * 1000 >= start:
                fills[fill.trade_id] = answer(fill)
        self._listed_at[pair] = now
        return tuple(sorted(fills.values(), key=lambda f: (f.timestamp, f.trade_id)))

    async def orders_since(self, pair: str, since: float) -> tuple[OrderAck, ...]:
        """Every order of the account on `pair` created from `since`, open and done (as far back
        as OKX keeps history: 3 months; canceled unfilled orders 2 hours): the rebuild's read
        (bots/live_rebuild.py)."""
        start = max(int(since * 1000), 0)
        lists = [("privateGetTradeOrdersPending", 0), ("privateGetTradeOrdersHistory", start)]
        if since < self._ctx.clock() - ORDERS_WINDOW_S:
            lists.insert(0, ("privateGetTradeOrdersHistoryArchive", start))
        acks: dict[str, OrderAck] = {}
        for name, begin in lists:  # fresher lists last: their rows win
            for row in await self._list(name, pair, begin, "ordId"):
                ack = self._order_of(row, pair)
                if (ack.timestamp or 0.0) * 1000 >= start:
                    acks[ack.order_id] = ack
        return tuple(sorted(acks.values(), key=lambda a: (a.timestamp or 0.0, a.order_id)))
