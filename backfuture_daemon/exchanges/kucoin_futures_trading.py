"""Live trading on KuCoin futures (USDT-margined linear perpetuals) behind `TradingPort`.

Built by exchanges/venue_ports.py (`futures_port`) for a live bot with `market: futures`. The bot
speaks the config's pair (`BTC/USDT`) and BASE amounts; this port trades the perpetual
`BTC/USDT:USDT` (XBTUSDTM) in whole contracts (lots of `contractSize` base, rounded DOWN; an
order under one lot is refused as `order_rejected` before anything is sent) and converts every
answer back to base amounts. Every order carries marginMode ISOLATED and the strategy's
leverage; an order whose request says `reduce_only` (a take profit, stop loss or close: the
order's purpose, not the bot's side, decides) is sent reduce-only. `position(pair)` reads the
position (GET /api/v1/position). Orders are placed, cancelled and looked up by clientOid (at most
40 characters); a duplicate clientOid returns the existing order. Fills carry the order id only:
the clientOid is read from orders seen before or looked up. Balances are the futures account's:
the settle currency's available balance free, position + order margin locked. Failures leave as
`OrderRejected` / `TradingUnavailable` (classify.trading_error), never as ccxt exceptions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from functools import partial
from typing import TYPE_CHECKING, Any

from backfuture_daemon.exchanges import kucoin
from backfuture_daemon.exchanges.market_rules import rules_from_market
from backfuture_daemon.exchanges.port import (
    Balance,
    Fill,
    OrderAck,
    OrderRejected,
    OrderRequest,
    OrderState,
    OrderType,
    Side,
    TradingErrorClass,
)
from backfuture_daemon.exchanges.trading import CcxtTrading
from backfuture_daemon.strategy.params import MarketRules

if TYPE_CHECKING:
    from backfuture_daemon.configuration.models import Connection
    from backfuture_daemon.exchanges.ccxt_base import AdapterContext
    from backfuture_daemon.exchanges.markets import MarketCache

#: the account currency of USDT-margined perpetuals (margin, PnL and fees).
SETTLE = "USDT"
#: rows per page of fills and done orders, and the most pages read (KuCoin pages newest first).
PAGE, MAX_PAGES = 100, 50
_STATES = {
    "open": OrderState.OPEN,
    "closed": OrderState.FILLED,
    "canceled": OrderState.CANCELED,
    "cancelled": OrderState.CANCELED,
    "expired": OrderState.CANCELED,
    "rejected": OrderState.REJECTED,
}


def perpetual(pair: str) -> str:
    """The config's pair -> its linear perpetual's ccxt symbol (`BTC/USDT` -> `BTC/USDT:USDT`)."""
    return pair if ":" in pair else f"{pair}:{pair.split('/')[-1]}"


def contract_rules(market: Mapping[str, Any], spot: MarketRules | None) -> MarketRules | None:
    """The rules a futures bot must size by, in BASE units: the contract's price tick, an amount
    step of one lot (lotSize × contractSize) and at least one lot; the spot pair's notional
    minimum is kept. None when the contract says too little to trade safely."""
    rules = rules_from_market(market)
    size = _dec(market.get("contractSize"))
    if rules is None or size <= 0:
        return None
    step = rules.amount_step * size
    return replace(
        rules,
        amount_step=step,
        min_amount=max(rules.min_amount * size, step),
        min_notional=max(rules.min_notional, spot.min_notional if spot else Decimal(0)),
    )


class KucoinFuturesTrading(CcxtTrading):
    """`TradingPort` for one KuCoin connection's futures account at one leverage (isolated
    margin); reduce-only per order (`OrderRequest.reduce_only`). `await close()` at the end."""

    def __init__(
        self,
        connection: Connection,
        ctx: AdapterContext,
        markets: MarketCache,
        *,
        leverage: int = 1,
    ) -> None:
        super().__init__(connection, ctx, markets)
        if leverage < 1:
            raise ValueError("leverage must be at least 1")
        # The spot client CcxtTrading built is never used: the futures host's client replaces
        # it; it is closed with the port (ccxt warns about clients dropped unclosed).
        self._unused = self._client
        self._spec = kucoin.client_spec(connection.endpoints, futures=True)
        self._client = ctx.make_client(self._spec, connection)
        self.leverage = leverage

    async def close(self) -> None:
        await self._unused.close()
        await super().close()

    async def _prepare(self) -> None:
        """Contract markets from the shared cache (no HF/classic question on the futures host)."""
        if not self._ready:
            self._client.set_markets_from_exchange(await self._markets.source(self._spec))
            self._ready = True

    async def _loaded(self) -> None:
        """Nothing: `_call` around it loads the markets, classifying any failure."""

    def _market(self, pair: str) -> dict[str, Any]:
        market = (self._client.markets or {}).get(perpetual(pair))
        if not isinstance(market, dict) or not market.get("linear"):
            raise OrderRejected(
                TradingErrorClass.ORDER_REJECTED,
                f"no USDT-margined perpetual for {pair} on KuCoin futures",
            )
        return market

    def _lot(self, pair: str) -> Decimal:
        size = _dec(self._market(pair).get("contractSize"))
        if size <= 0:
            raise OrderRejected(TradingErrorClass.ORDER_REJECTED, f"{pair}: no contract size")
        return size

    def rules(self, pair: str, spot: MarketRules | None) -> MarketRules | None:
        """`contract_rules` of `pair`'s perpetual, without I/O: None until the markets are
        loaded (any call of this port loads them; a bot waits for rules, sizing nothing)."""
        if not self._ready:
            return None
        market = (self._client.markets or {}).get(perpetual(pair))
        return contract_rules(market, spot) if isinstance(market, dict) else None

    # ---- orders ----------------------------------------------------------------------------

    async def place(self, order: OrderRequest) -> OrderAck:
        cid = self._client_id(order.client_order_id)
        if (order.type is OrderType.LIMIT) == (order.price is None):
            raise OrderRejected(
                TradingErrorClass.ORDER_REJECTED, "a limit order needs a price, a market order none"
            )
        await self._call(self._loaded)
        lot = self._lot(order.pair)
        lots = (order.amount / lot).to_integral_value(ROUND_FLOOR)
        if lots < 1:
            base = order.pair.split("/")[0]
            raise OrderRejected(
                TradingErrorClass.ORDER_REJECTED,
                f"{order.amount} {base} is less than one contract of {perpetual(order.pair)} "
                f"({lot} {base}): nothing sent",
            )
        params: dict[str, Any] = {
            "clientOid": cid,
            "marginMode": "isolated",
            "leverage": self.leverage,
        }
        if order.reduce_only:
            params["reduceOnly"] = True
        price = float(order.price) if order.price is not None else None
        symbol = perpetual(order.pair)
        try:
            await self._call(
                lambda: self._client.create_order(
                    symbol, order.type.value, order.side.value, float(lots), price, params
                )
            )
        except OrderRejected as rejected:
            # A clientOid KuCoin already holds (placing again after a lost answer): the order
            # exists, so placing is idempotent — the existing order is the answer.
            if rejected.error_class is not TradingErrorClass.ORDER_REJECTED:
                raise
            existing = await self.fetch_order_by_client_id(order.pair, cid)
            if existing is None:
                raise
            return existing
        placed = await self.fetch_order_by_client_id(order.pair, cid)
        if placed is None:  # accepted, not yet visible: say what we sent
            return OrderAck(cid, "", order.pair, order.side, OrderState.OPEN,
                            lots * lot, Decimal(0), order.price)  # fmt: skip
        return placed

    async def cancel(self, pair: str, client_order_id: str) -> OrderAck:
        cid = self._client_id(client_order_id)
        symbol = perpetual(pair)
        await self._call(lambda: self._client.cancel_order(None, symbol, {"clientOid": cid}))
        after = await self.fetch_order_by_client_id(pair, cid)
        if after is None:
            raise OrderRejected(TradingErrorClass.ORDER_REJECTED, f"no order {cid} on {pair}")
        return after

    async def fetch_order_by_client_id(self, pair: str, client_order_id: str) -> OrderAck | None:
        cid = self._client_id(client_order_id)
        symbol = perpetual(pair)
        try:
            raw = await self._call(
                lambda: self._client.fetch_order(None, symbol, {"clientOid": cid})
            )
        except OrderRejected as e:
            if e.error_class is TradingErrorClass.ORDER_REJECTED:
                return None  # 100001 error.getOrder.orderNotExist
            raise
        if not raw or not raw.get("id"):
            return None
        return self._remember(self._ack(raw, pair, cid))

    async def open_orders(self, pair: str) -> tuple[OrderAck, ...]:
        symbol = perpetual(pair)
        rows = await self._call(lambda: self._client.fetch_open_orders(symbol))
        return tuple(self._remember(self._ack(r, pair, "")) for r in rows)

    async def orders_since(self, pair: str, since: float) -> tuple[OrderAck, ...]:
        """Every order on `pair`'s perpetual, active and done, created from `since`: what a
        rebuild after a lost state directory reads (bots/live_rebuild.py)."""
        symbol = perpetual(pair)
        start = max(int(since * 1000), 0) or None
        rows = await self._paged(
            lambda page: self._client.fetch_open_orders(symbol, None, None, page)
        )
        rows += await self._paged(
            lambda page: self._client.fetch_closed_orders(symbol, start, None, page)
        )
        acks: dict[str, OrderAck] = {}
        for r in rows:
            ack = self._remember(self._ack(r, pair, ""))
            acks[ack.order_id] = ack
        return tuple(sorted(acks.values(), key=lambda a: (a.timestamp or 0.0, a.order_id)))

    async def fills_since(self, pair: str, since: float) -> tuple[Fill, ...]:
        """Executions on `pair`'s perpetual from `since` (epoch seconds), oldest first, amounts
        in base; KuCoin's fills name the order id only, so its clientOid is resolved."""
        symbol = perpetual(pair)
        start = max(int(since * 1000), 0) or None
        rows = await self._paged(
            lambda page: self._client.fetch_my_trades(symbol, start, PAGE, page)
        )
        lot = self._lot(pair)
        fills: list[Fill] = []
        for raw in sorted(rows, key=lambda r: (r.get("timestamp") or 0, str(r.get("id")))):
            info = raw.get("info") or {}
            order_id = str(raw.get("order") or info.get("orderId") or "")
            cid = info.get("clientOid") or self._cids.get(order_id)
            if cid is None and order_id:
                cid = await self._client_id_of(pair, order_id)
            fee = raw.get("fee") or {}
            stamp = raw.get("timestamp")
            fills.append(
                Fill(
                    trade_id=str(raw.get("id") or info.get("tradeId") or ""),
                    order_id=order_id,
                    client_order_id=str(cid) if cid else None,
                    pair=pair,
                    side=Side(str(raw.get("side") or "buy").lower()),
                    price=_dec(raw.get("price")),
                    amount=_dec(raw.get("amount")) * lot,
                    fee=_dec(fee.get("cost")),
                    fee_currency=str(fee.get("currency") or SETTLE),
                    timestamp=float(stamp) / 1000.0 if isinstance(stamp, int | float) else since,
                )
            )
        return tuple(fills)

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

    async def _client_id_of(self, pair: str, order_id: str) -> str | None:
        symbol = perpetual(pair)
        raw = await self._call(lambda: self._client.fetch_order(order_id, symbol))
        cid = raw.get("clientOrderId") if raw else None
        if cid:
            self._cids[order_id] = str(cid)
        return str(cid) if cid else None

    async def position(self, pair: str) -> Decimal:
        """The account's position in `pair`'s perpetual in BASE, signed (long > 0, short < 0,
        0 when none): `GET /api/v1/position` (currentQty contracts × contractSize). What the
        bots compare with their book to notice a liquidation or a hand-closed position."""
        await self._call(self._loaded)
        lot = self._lot(pair)
        contract = str(self._market(pair).get("id") or "")
        raw = await self._call(lambda: self._client.futuresPrivateGetPosition({"symbol": contract}))
        data = raw.get("data") if isinstance(raw, dict) else None
        if not isinstance(data, dict) or data.get("isOpen") in (False, "false"):
            return Decimal(0)
        return _dec(data.get("currentQty")) * lot

    async def balances(self) -> Mapping[str, Balance]:
        """The futures account: available balance free; position + order margin locked."""
        raw = await self._call(
            lambda: self._client.futuresPrivateGetAccountOverview({"currency": SETTLE})
        )
        data = raw.get("data") if isinstance(raw, dict) else None
        data = data if isinstance(data, dict) else {}
        locked = _dec(data.get("positionMargin")) + _dec(data.get("orderMargin"))
        return {SETTLE: Balance(SETTLE, _dec(data.get("availableBalance")), locked)}

    def _ack(self, raw: dict[str, Any], pair: str, cid: str) -> OrderAck:
        """A ccxt contract order (amounts in contracts) as an OrderAck in base amounts."""
        lot = self._lot(pair)
        price, average, stamp = raw.get("price"), raw.get("average"), raw.get("timestamp")
        return OrderAck(
            client_order_id=str(raw.get("clientOrderId") or cid),
            order_id=str(raw.get("id") or ""),
            pair=pair,
            side=Side(str(raw.get("side") or "buy").lower()),
            state=_STATES.get(str(raw.get("status")), OrderState.OPEN),
            amount=_dec(raw.get("amount")) * lot,
            filled=_dec(raw.get("filled")) * lot,
            price=_dec(price) if price else None,
            average_price=_dec(average) if average else None,
            timestamp=float(stamp) / 1000.0 if isinstance(stamp, int | float) else None,
        )


def _dec(value: object) -> Decimal:
    if value is None or isinstance(value, bool):
        return Decimal(0)
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        return Decimal(0)
    return d if d.is_finite() else Decimal(0)
