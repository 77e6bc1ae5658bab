"""Live spot trading behind `TradingPort`, over one connection's signed ccxt client.

Built by exchanges/venue_ports.py (`trading_port`) for the live bots. MEXC, KuCoin and Binance
differ only in `VENUES` (client-order-id length, HF/classic account read on first use); OKX and
Bybit override what differs in subclasses (okx_trading.py, bybit_trading.py). Orders carry the
caller's client order id, so a lost answer is found again by it; fills and order history (a lost
state directory's rebuild) name their client order id too; both histories are read page by page
(exchanges/history_paging.py) so a busy hour while the daemon was down is read whole. Failures
leave as `OrderRejected` or `TradingUnavailable` (classify.trading_error), never as ccxt
exceptions, short and redacted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from backfuture_daemon.exchanges import binance, bybit, kucoin, mexc, okx
from backfuture_daemon.exchanges.ccxt_base import AdapterContext, CcxtAdapter
from backfuture_daemon.exchanges.classify import trading_error
from backfuture_daemon.exchanges.clients import ClientSpec
from backfuture_daemon.exchanges.history_paging import (
    DAY_MS,
    HistoryPager,
    Paging,
    Row,
    row_id,
    row_stamp,
)
from backfuture_daemon.exchanges.order_values import STATES, ccxt_ack, ccxt_fill, dec
from backfuture_daemon.exchanges.port import (
    Balance,
    Fill,
    OrderAck,
    OrderRejected,
    OrderRequest,
    OrderState,
    OrderType,
    TradingErrorClass,
)

if TYPE_CHECKING:
    from backfuture_daemon.configuration.models import Connection, Endpoints
    from backfuture_daemon.exchanges.markets import MarketCache

T = TypeVar("T")


_OLDEST_FIRST = Paging()


@dataclass(frozen=True, slots=True)
class Venue:
    spec: Callable[[Endpoints | None], ClientSpec]
    #: longest client order id the exchange accepts (MEXC newClientOrderId 32; KuCoin clientOid 40).
    max_client_id: int
    #: KuCoin keeps HF and classic trading accounts apart (reference §4.2): ask which one first.
    detect_hf: bool = False
    #: how the trade history (myTrades, fills) pages: MEXC/Binance oldest first from startTime
    #: (100 a page); KuCoin newest first, 7 days at most a request.
    fills: Paging = _OLDEST_FIRST
    #: order history: one list of open and done orders, oldest first (MEXC/Binance allOrders,
    #: 1000 a page); else open orders + done orders paged like `orders_paging`.
    all_orders: bool = False
    orders_paging: Paging = _OLDEST_FIRST


_KUCOIN_PAGING = Paging(newest_first=True, window_ms=7 * DAY_MS, lookback_ms=7 * DAY_MS)
VENUES: dict[str, Venue] = {
    "mexc": Venue(mexc.client_spec, 32, all_orders=True, orders_paging=Paging(limit=1000)),
    "kucoin": Venue(
        kucoin.client_spec, 40, detect_hf=True, fills=_KUCOIN_PAGING, orders_paging=_KUCOIN_PAGING
    ),
    # newClientOrderId ^[.A-Z:/a-z0-9_-]{1,36}$
    "binance": Venue(binance.client_spec, 36, all_orders=True, orders_paging=Paging(limit=1000)),
    "okx": Venue(okx.client_spec, 32),  # clOrdId: letters and digits, 1..32 (exchanges/okx_trading)
    "bybit": Venue(bybit.client_spec, 36),  # orderLinkId 1..36 (exchanges/bybit_trading)
}


class CcxtTrading(CcxtAdapter):
    """`TradingPort` for one connection (spot). `await close()` when its bots stop."""

    def __init__(self, connection: Connection, ctx: AdapterContext, markets: MarketCache) -> None:
        self.exchange = str(connection.exchange)
        self._venue = VENUES[self.exchange]
        super().__init__(connection, ctx, self._venue.spec(connection.endpoints))
        self._markets = markets
        self._ready = False
        #: exchange order id -> client order id, of every order this port has seen (fills).
        self._cids: dict[str, str] = {}
        self._fill_pages = HistoryPager(self._venue.fills, f"{self.exchange} fills")
        self._order_pages = HistoryPager(self._venue.orders_paging, f"{self.exchange} orders")

    def _remember(self, ack: OrderAck) -> OrderAck:
        if ack.order_id and ack.client_order_id:
            self._cids[ack.order_id] = ack.client_order_id
        return ack

    async def _prepare(self) -> None:
        """Markets from the shared cache; on KuCoin, the account mode (HF or classic)."""
        if self._ready:
            return
        self._client.set_markets_from_exchange(await self._markets.source(self._spec))
        if self._venue.detect_hf:
            rows = (await self._client.privateGetAccounts()).get("data") or []
            types = {str(r.get("type")) for r in rows if isinstance(r, dict)}
            if "trade_hf" in types:
                hf = True
            elif "trade" in types:
                hf = False
            else:
                hf = bool((await self._client.privateGetHfAccountsOpened()).get("data"))
            self._client.options["hf"] = hf
        self._ready = True

    async def _call(self, fn: Callable[[], Awaitable[T]]) -> T:
        self.take_response()
        try:
            await self._prepare()
            return await fn()
        except Exception as e:  # every vendor failure leaves as OrderRejected/TradingUnavailable
            meta = self.take_response()
            raise trading_error(
                e,
                self.exchange,
                redact=self._redact,
                http_status=meta.status,
                retry_after=meta.retry_after,
            ) from None

    def _client_id(self, client_order_id: str) -> str:
        if not client_order_id or len(client_order_id) > self._venue.max_client_id:
            raise OrderRejected(
                TradingErrorClass.ORDER_REJECTED,
                f"client order id must be 1..{self._venue.max_client_id} characters on "
                f"{self.exchange} (got {len(client_order_id)})",
            )
        return client_order_id

    def _order_client_id(self, order: OrderRequest) -> str:
        """The order's client id, checked, and a price exactly when it is a limit order."""
        cid = self._client_id(order.client_order_id)
        if (order.type is OrderType.LIMIT) == (order.price is None):
            raise OrderRejected(
                TradingErrorClass.ORDER_REJECTED, "a limit order needs a price, a market order none"
            )
        return cid

    def _symbol_of(self, pair: str) -> str:
        """The ccxt symbol an order on `pair` trades (spot: the pair itself)."""
        return pair

    def _ack(self, raw: dict[str, Any], pair: str, cid: str) -> OrderAck:
        """A ccxt order as the port answers it (`cid` when it names no client id)."""
        return ccxt_ack(raw, str(raw.get("symbol") or pair), cid)

    async def place(self, order: OrderRequest) -> OrderAck:
        cid = self._order_client_id(order)
        price = float(order.price) if order.price is not None else None
        try:
            raw = await self._call(
                lambda: self._client.create_order(
                    order.pair,
                    order.type.value,
                    order.side.value,
                    float(order.amount),
                    price,
                    {"clientOrderId": cid},
                )
            )
        except OrderRejected as rejected:
            # A duplicate client id (KuCoin 126044): the existing order. (MEXC accepts
            # duplicates: look the id up before re-placing there.)
            return await self._known(order.pair, cid, rejected)
        if STATES.get(str(raw.get("status"))) is not None:
            return self._remember(self._ack(raw, order.pair, cid))
        # MEXC and KuCoin answer a new order with its id only: read its state back.
        placed = await self.fetch_order_by_client_id(order.pair, cid)
        if placed is None:  # accepted, not yet visible: say what we sent
            return OrderAck(cid, str(raw.get("id") or ""), order.pair, order.side,
                            OrderState.OPEN, order.amount, Decimal(0), order.price)  # fmt: skip
        return placed

    async def cancel(self, pair: str, client_order_id: str) -> OrderAck:
        cid = self._client_id(client_order_id)
        symbol = self._symbol_of(pair)
        await self._call(lambda: self._client.cancel_order(None, symbol, self._by_client_id(cid)))
        after = await self.fetch_order_by_client_id(pair, cid)
        if after is None:
            raise OrderRejected(TradingErrorClass.ORDER_REJECTED, f"no order {cid} on {pair}")
        return after

    async def _known(
        self, pair: str, cid: str, refused: OrderRejected, *, final: bool = False
    ) -> OrderAck:
        """The order `cid` after the exchange refused a request on it as `order_rejected`:
        placing an id it already holds (a re-place after a lost answer: the existing order is
        the answer, so placing is idempotent), or, `final`, cancelling an order already filled
        or cancelled (OKX 51400-51402, Bybit 110001: its final state). Another error class, no
        such order, or (`final`) an order still open raises `refused`."""
        if refused.error_class is not TradingErrorClass.ORDER_REJECTED:
            raise refused
        known = await self.fetch_order_by_client_id(pair, cid)
        if known is None or (final and known.state is OrderState.OPEN):
            raise refused
        return known

    def _by_client_id(self, cid: str) -> dict[str, Any]:
        return {"clientOid": cid} if self.exchange == "kucoin" else {"clientOrderId": cid}

    async def fetch_order_by_client_id(self, pair: str, client_order_id: str) -> OrderAck | None:
        cid = self._client_id(client_order_id)
        symbol = self._symbol_of(pair)
        try:
            raw = await self._call(
                lambda: self._client.fetch_order(None, symbol, self._by_client_id(cid))
            )
        except OrderRejected as e:
            if e.error_class is TradingErrorClass.ORDER_REJECTED:
                return None  # the exchange knows no such order (MEXC -2013, KuCoin 400100 / 404)
            raise
        if not raw or not raw.get("id"):
            return None
        return self._remember(self._ack(raw, pair, cid))

    async def open_orders(self, pair: str) -> tuple[OrderAck, ...]:
        symbol = self._symbol_of(pair)
        rows = await self._call(lambda: self._client.fetch_open_orders(symbol))
        return tuple(self._remember(self._ack(r, pair, "")) for r in rows)

    def _page_params(self, until: int | None, limit: int) -> dict[str, Any]:
        """`until` (ccxt's name for endTime/endAt) and, on KuCoin's classic fills (50 a page
        unless asked), the page size."""
        params: dict[str, Any] = {} if until is None else {"until": until}
        if self.exchange == "kucoin" and not self._client.options.get("hf"):
            params["pageSize"] = limit
        return params

    async def _my_trades(self, pair: str, start: int, until: int | None, limit: int) -> list[Row]:
        return list(
            await self._call(
                lambda: self._client.fetch_my_trades(
                    pair, start, limit, self._page_params(until, limit)
                )
            )
        )

    async def fills_since(self, pair: str, since: float) -> tuple[Fill, ...]:
        """The account's executions on `pair` from `since` (epoch seconds, inclusive; 0: as far
        back as the venue's lookback), oldest first, every page of them, each with the client
        order id of its order (MEXC puts it in the trade; KuCoin's and Binance's fills carry the
        order id only, so it is read from orders seen before or looked up)."""

        async def page(start: int, until: int | None, limit: int) -> list[Row]:
            return await self._my_trades(pair, start, until, limit)

        rows = await self._fill_pages.read(
            pair,
            page,
            max(int(since * 1000), 0),
            int(self._now_ms()),
            key=_trade_key,
            stamp=row_stamp,
        )
        return await self._fills(
            rows, pair, lambda raw, cid: ccxt_fill(raw, str(raw.get("symbol") or pair), cid, since)
        )

    def _fill_client_id(self, info: Mapping[str, Any]) -> object:
        """The client order id a raw fill names itself, if any (else it is resolved)."""
        return info.get("clientOrderId") or info.get("clientOid")

    async def _fills(
        self, rows: list[Row], pair: str, fill: Callable[[Row, object], Fill]
    ) -> tuple[Fill, ...]:
        """`rows` (ccxt trades) oldest first as `fill` makes them, each with its order's client
        id: named by the fill, read from orders seen before, or looked up by order id."""
        fills: list[Fill] = []
        for raw in sorted(rows, key=lambda r: (r.get("timestamp") or 0, str(r.get("id")))):
            info = raw.get("info") or {}
            order_id = str(raw.get("order") or info.get("orderId") or "")
            cid = self._fill_client_id(info) or self._cids.get(order_id)
            if cid is None and order_id:
                cid = await self._client_id_of(pair, order_id)
            fills.append(fill(raw, cid))
        return tuple(fills)

    async def _client_id_of(self, pair: str, order_id: str) -> str | None:
        """The client order id of an order known by exchange id only (KuCoin fills)."""
        symbol = self._symbol_of(pair)
        raw = await self._call(lambda: self._client.fetch_order(order_id, symbol))
        cid = raw.get("clientOrderId") if raw else None
        if cid:
            self._cids[order_id] = str(cid)
        return str(cid) if cid else None

    async def orders_since(self, pair: str, since: float) -> tuple[OrderAck, ...]:
        """Every order of the account on `pair`, open and done, created from `since` (0: as far
        back as the venue's lookback), every page: what a rebuild after a lost state directory
        reads (bots/live_rebuild.py). MEXC, Binance: allOrders; KuCoin: active + done lists (HF
        or classic)."""
        all_orders = self._venue.all_orders

        async def page(start: int, until: int | None, limit: int) -> list[Row]:
            params: dict[str, Any] = {} if until is None else {"until": until}
            if self.exchange == "kucoin":  # ccxt sends pageSize; HF done orders read `limit`
                params["limit"] = limit
            if all_orders:
                return list(
                    await self._call(lambda: self._client.fetch_orders(pair, start, limit, params))
                )
            return list(
                await self._call(
                    lambda: self._client.fetch_closed_orders(pair, start, limit, params)
                )
            )

        rows = await self._order_pages.read(
            pair, page, max(int(since * 1000), 0), int(self._now_ms()), key=row_id, stamp=row_stamp
        )
        if not all_orders:
            rows += await self._call(lambda: self._client.fetch_open_orders(pair))
        acks: dict[str, OrderAck] = {}
        for r in rows:
            ack = self._remember(self._ack(r, pair, str(r.get("clientOrderId") or "")))
            acks[ack.order_id] = ack
        return tuple(sorted(acks.values(), key=lambda a: (a.timestamp or 0.0, a.order_id)))

    async def balances(self) -> Mapping[str, Balance]:
        raw = await self._call(self._client.fetch_balance)
        free, used = raw.get("free") or {}, raw.get("used") or {}
        return {
            str(cur): Balance(str(cur), dec(free.get(cur)), dec(used.get(cur)))
            for cur in sorted(set(free) | set(used))
            if dec(free.get(cur)) or dec(used.get(cur))
        }


def _trade_key(raw: Row) -> str:
    return str(raw.get("id") or (raw.get("info") or {}).get("tradeId") or "")
