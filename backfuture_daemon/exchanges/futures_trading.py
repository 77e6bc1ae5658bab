"""Live trading on USDT-margined linear perpetuals behind `TradingPort`: what every exchange's
futures port shares.

`CcxtFuturesTrading` is subclassed per exchange (kucoin_futures_trading.py, binance_futures_
trading.py, ...) and built by exchanges/venue_ports.py (`futures_port`) for a live bot with
`market: futures`. The bot speaks the config's pair (`BTC/USDT`) and BASE amounts; the port
trades the perpetual `BTC/USDT:USDT` in contracts (`contractSize` base each; quantities are
rounded DOWN to the exchange's quantity step; an order under the minimum is refused as
`order_rejected` before anything is sent) and converts every answer back to base amounts. Every
order is isolated margin at the port's leverage; an order whose request says `reduce_only` is
sent reduce-only. Orders are placed, cancelled and looked up by client order id; placing again
an id the exchange already holds answers the existing order. `position(pair)` is the signed
position in base. Failures leave as `OrderRejected` / `TradingUnavailable`, never as ccxt
exceptions.

Hooks a subclass overrides: `_start` (its own per-port state), `futures_spec` (the futures
host's client), `_order_params` (ccxt params for client id, isolated margin, leverage,
reduce-only), `_by_client_id`, `_before_order` (set-up the exchange needs before an order),
`_quantity_step` (`_market_step` reads it from the market), `_position_contracts`,
`_fill_client_id`, `_order_rows` / `_fill_rows` (paging) and `_account` (balances).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Any

from backfuture_daemon.exchanges.market_rules import rules_from_market
from backfuture_daemon.exchanges.order_values import STATES as STATES  # re-exported
from backfuture_daemon.exchanges.order_values import ccxt_ack, ccxt_fill, dec
from backfuture_daemon.exchanges.port import (
    Balance,
    Fill,
    OrderAck,
    OrderRejected,
    OrderRequest,
    OrderState,
    TradingErrorClass,
)
from backfuture_daemon.exchanges.trading import CcxtTrading
from backfuture_daemon.strategy.params import MarketRules

if TYPE_CHECKING:
    from backfuture_daemon.configuration.models import Connection, Endpoints
    from backfuture_daemon.exchanges.ccxt_base import AdapterContext
    from backfuture_daemon.exchanges.clients import ClientSpec
    from backfuture_daemon.exchanges.markets import MarketCache

#: the account currency of USDT-margined perpetuals (margin, PnL and fees).
SETTLE = "USDT"


def perpetual(pair: str) -> str:
    """The config's pair -> its linear perpetual's ccxt symbol (`BTC/USDT` -> `BTC/USDT:USDT`)."""
    return pair if ":" in pair else f"{pair}:{pair.split('/')[-1]}"


def contract_rules(market: Mapping[str, Any], spot: MarketRules | None) -> MarketRules | None:
    """The rules a futures bot must size by, in BASE units: the contract's price tick, an amount
    step of one lot (lotSize × contractSize) and at least one lot; the spot pair's notional
    minimum is kept. None when the contract says too little to trade safely."""
    rules = rules_from_market(market)
    size = dec(market.get("contractSize"))
    if rules is None or size <= 0:
        return None
    step = rules.amount_step * size
    return replace(
        rules,
        amount_step=step,
        min_amount=max(rules.min_amount * size, step),
        min_notional=max(rules.min_notional, spot.min_notional if spot else Decimal(0)),
    )


class CcxtFuturesTrading(CcxtTrading):
    """`TradingPort` for one connection's USDT-perpetual account at one leverage (isolated
    margin); reduce-only per order (`OrderRequest.reduce_only`). `await close()` at the end."""

    #: how the venue is named in messages ("KuCoin futures").
    venue_name = "futures"

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
        self._spec = self.futures_spec(connection.endpoints)
        self._client = ctx.make_client(self._spec, connection)
        self.leverage = leverage
        self._start()

    # ---- hooks -----------------------------------------------------------------------------

    def _start(self) -> None:
        """The venue's own per-port state (set-up done, caches), once its futures client
        exists: what a subclass would otherwise set in an `__init__` of its own."""

    @classmethod
    def futures_spec(cls, endpoints: Endpoints | None) -> ClientSpec:
        """The ccxt client of the exchange's futures host."""
        raise NotImplementedError

    def _order_params(self, cid: str, order: OrderRequest) -> dict[str, Any]:
        """ccxt params of a new order: client id, isolated margin, leverage, reduce-only."""
        raise NotImplementedError

    def _by_client_id(self, cid: str) -> dict[str, Any]:
        """ccxt params naming an order by its client id (fetch, cancel)."""
        return {"clientOrderId": cid}

    async def _before_order(self, pair: str) -> None:
        """Whatever the exchange needs set before an order on `pair` (margin mode, leverage)."""

    def _quantity_step(self, market: Mapping[str, Any]) -> tuple[Decimal, Decimal]:
        """(step, minimum) of an order's quantity in contracts: whole contracts by default."""
        return Decimal(1), Decimal(1)

    def _market_step(
        self, market: Mapping[str, Any], missing: str | None = None
    ) -> tuple[Decimal, Decimal]:
        """A `_quantity_step` from the market: ccxt's amount precision and minimum. A market
        with no step is refused with `missing`, or (None) stepped by one contract."""
        step = dec((market.get("precision") or {}).get("amount"))
        least = dec(((market.get("limits") or {}).get("amount") or {}).get("min"))
        if step <= 0 and missing is not None:
            raise OrderRejected(TradingErrorClass.ORDER_REJECTED, missing)
        return step or Decimal(1), least

    async def _position_contracts(self, market: Mapping[str, Any]) -> Decimal:
        """The account's signed position in `market` in contracts (0 when none)."""
        raise NotImplementedError

    def _fill_client_id(self, info: Mapping[str, Any]) -> object:
        """The client order id a raw fill names itself, if any (else it is resolved)."""
        return None

    async def _order_rows(self, symbol: str, start: int | None) -> list[dict[str, Any]]:
        """Every raw order (open and done) on `symbol` from `start` (ms), every page."""
        raise NotImplementedError

    async def _fill_rows(self, symbol: str, start: int | None) -> list[dict[str, Any]]:
        """Every raw fill on `symbol` from `start` (ms), every page."""
        raise NotImplementedError

    async def _account(self) -> tuple[Decimal, Decimal]:
        """The futures account's settle currency: (available, locked in margin)."""
        raise NotImplementedError

    # ---- markets ---------------------------------------------------------------------------

    async def close(self) -> None:
        await self._unused.close()
        await super().close()

    async def _prepare(self) -> None:
        """Contract markets from the shared cache."""
        if not self._ready:
            self._client.set_markets_from_exchange(await self._markets.source(self._spec))
            self._ready = True

    async def _loaded(self) -> None:
        """Nothing: `_call` around it loads the markets, classifying any failure."""

    def _symbol_of(self, pair: str) -> str:
        return perpetual(pair)

    def _market(self, pair: str) -> dict[str, Any]:
        market = (self._client.markets or {}).get(perpetual(pair))
        if not isinstance(market, dict) or not market.get("linear"):
            raise OrderRejected(
                TradingErrorClass.ORDER_REJECTED,
                f"no USDT-margined perpetual for {pair} on {self.venue_name}",
            )
        return market

    def _lot(self, pair: str) -> Decimal:
        size = dec(self._market(pair).get("contractSize"))
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

    def _contracts(self, order: OrderRequest) -> Decimal:
        """The order's base amount in contracts, rounded down to the quantity step; refused
        (nothing sent) when under the minimum."""
        lot = self._lot(order.pair)
        step, least = self._quantity_step(self._market(order.pair))
        quantity = (order.amount / lot / step).to_integral_value(ROUND_FLOOR) * step
        if quantity < max(step, least):
            base = order.pair.split("/")[0]
            raise OrderRejected(
                TradingErrorClass.ORDER_REJECTED,
                f"{order.amount} {base} is less than one contract of {perpetual(order.pair)} "
                f"({(lot * max(step, least)).normalize():f} {base}): nothing sent",
            )
        return quantity

    # ---- orders ----------------------------------------------------------------------------

    async def place(self, order: OrderRequest) -> OrderAck:
        cid = self._order_client_id(order)
        await self._call(self._loaded)
        lot = self._lot(order.pair)
        quantity = self._contracts(order)
        await self._before_order(order.pair)
        params = self._order_params(cid, order)
        price = float(order.price) if order.price is not None else None
        symbol = perpetual(order.pair)
        try:
            await self._call(
                lambda: self._client.create_order(
                    symbol, order.type.value, order.side.value, float(quantity), price, params
                )
            )
        except OrderRejected as rejected:  # a client id the exchange already holds
            return await self._known(order.pair, cid, rejected)
        placed = await self.fetch_order_by_client_id(order.pair, cid)
        if placed is None:  # accepted, not yet visible: say what we sent
            return OrderAck(cid, "", order.pair, order.side, OrderState.OPEN,
                            quantity * lot, Decimal(0), order.price)  # fmt: skip
        return placed

    async def orders_since(self, pair: str, since: float) -> tuple[OrderAck, ...]:
        """Every order on `pair`'s perpetual, active and done, created from `since`: what a
        rebuild after a lost state directory reads (bots/live_rebuild.py)."""
        start = max(int(since * 1000), 0) or None
        rows = await self._order_rows(perpetual(pair), start)
        acks: dict[str, OrderAck] = {}
        for r in rows:
            ack = self._remember(self._ack(r, pair, ""))
            acks[ack.order_id] = ack
        return tuple(sorted(acks.values(), key=lambda a: (a.timestamp or 0.0, a.order_id)))

    async def fills_since(self, pair: str, since: float) -> tuple[Fill, ...]:
        """Executions on `pair`'s perpetual from `since` (epoch seconds), oldest first, amounts
        in base, each with its order's client id (read from orders seen before or looked up
        when the fill names the order id only)."""
        start = max(int(since * 1000), 0) or None
        rows = await self._fill_rows(perpetual(pair), start)
        lot = self._lot(pair)
        return await self._fills(
            rows, pair, lambda raw, cid: ccxt_fill(raw, pair, cid, since, lot, SETTLE)
        )

    async def position(self, pair: str) -> Decimal:
        """The account's position in `pair`'s perpetual in BASE, signed (long > 0, short < 0,
        0 when none). What the bots compare with their book to notice a liquidation or a
        hand-closed position (bots/outside.py)."""
        await self._call(self._loaded)
        lot = self._lot(pair)
        return await self._position_contracts(self._market(pair)) * lot

    async def balances(self) -> Mapping[str, Balance]:
        """The futures account: available balance free; position + order margin locked."""
        free, locked = await self._account()
        return {SETTLE: Balance(SETTLE, free, locked)}

    def _ack(self, raw: dict[str, Any], pair: str, cid: str) -> OrderAck:
        """A ccxt contract order (amounts in contracts) as an OrderAck in base amounts."""
        return ccxt_ack(raw, pair, cid, self._lot(pair))
