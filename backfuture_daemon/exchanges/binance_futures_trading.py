"""Live trading on Binance USDⓈ-M perpetuals (ccxt `binanceusdm`) behind `TradingPort`.

Built by exchanges/venue_ports.py (`futures_port`) for a live bot with `market: futures` on a
Binance connection; the shared flow (base <-> contracts, reduce-only, place/cancel/lookup by
client id, rules, position, balances) is exchanges/futures_trading.py's. Binance's part:

* quantities are in BASE (ccxt contractSize 1), rounded down to the symbol's LOT_SIZE stepSize;
  an order under minQty is refused before anything is sent;
* before the first order on a symbol the port checks the account is in one-way position mode
  (GET /fapi/v1/positionSide/dual; hedge mode is refused: its orders would need positionSide),
  sets ISOLATED margin (POST /fapi/v1/marginType; -4046 "No need to change margin type." is
  success) and the strategy's leverage (POST /fapi/v1/leverage);
* orders carry newClientOrderId (at most 36 of `.A-Z:/a-z0-9_-`) and `reduceOnly=true` when the
  request says so; they are looked up and cancelled by origClientOrderId (-2013 unknown -> None);
* fills (GET /fapi/v1/userTrades) name the order id only: the client id is read from orders
  seen before or looked up by orderId once (cached); history pages through 7-day windows
  (userTrades, allOrders: oldest first, 1000 a page);
* the position is GET /fapi/v2/positionRisk (signed positionAmt in base), balances
  GET /fapi/v2/balance (USDT availableBalance free, the rest of the wallet locked).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from backfuture_daemon.exchanges import binance
from backfuture_daemon.exchanges.futures_trading import SETTLE, CcxtFuturesTrading
from backfuture_daemon.exchanges.history_paging import (
    DAY_MS,
    HistoryPager,
    Paging,
    Row,
    row_id,
    row_stamp,
)
from backfuture_daemon.exchanges.order_values import dec
from backfuture_daemon.exchanges.port import OrderRejected, TradingErrorClass

if TYPE_CHECKING:
    from backfuture_daemon.configuration.models import Endpoints
    from backfuture_daemon.exchanges.clients import ClientSpec
    from backfuture_daemon.exchanges.port import OrderRequest

#: userTrades and allOrders: at most 1000 rows a request, a start..end range under 7 days.
PAGING = Paging(limit=1000, window_ms=7 * DAY_MS - 1, lookback_ms=30 * DAY_MS)
#: "No need to change margin type.": the symbol is isolated already.
_ALREADY_ISOLATED = "-4046"
HEDGE_MODE = (
    "the Binance USDⓈ-M account is in Hedge Mode (dualSidePosition true); live futures bots "
    "trade in One-way Mode only: switch the position mode to One-way in the futures settings "
    "(no open positions or orders) — nothing was sent"
)


class BinanceFuturesTrading(CcxtFuturesTrading):
    """`TradingPort` for one Binance connection's USDⓈ-M account at one leverage (isolated
    margin, one-way mode); reduce-only per order. `await close()` at the end."""

    venue_name = "Binance USDⓈ-M futures"

    def _start(self) -> None:
        self._one_way = False
        #: symbols whose margin type and leverage this port has set
        self._set_up: set[str] = set()
        self._fill_pages = HistoryPager(PAGING, "binance futures fills")
        self._order_pages = HistoryPager(PAGING, "binance futures orders")

    @classmethod
    def futures_spec(cls, endpoints: Endpoints | None) -> ClientSpec:
        return binance.client_spec(endpoints, futures=True)

    def _order_params(self, cid: str, order: OrderRequest) -> dict[str, Any]:
        params: dict[str, Any] = {"newClientOrderId": cid}
        if order.reduce_only:
            params["reduceOnly"] = True
        return params

    def _by_client_id(self, cid: str) -> dict[str, Any]:
        return {"origClientOrderId": cid}

    def _quantity_step(self, market: Mapping[str, Any]) -> tuple[Decimal, Decimal]:
        """LOT_SIZE stepSize and minQty (ccxt precision.amount, limits.amount.min), in base."""
        return self._market_step(market, f"{market.get('symbol')}: no quantity step")

    async def _before_order(self, pair: str) -> None:
        """One-way mode (once per port), then ISOLATED margin and the leverage (once per symbol
        and port: a new port — a restart, a leverage change — sets them again)."""
        contract = str(self._market(pair).get("id") or "")
        if contract in self._set_up:
            return
        if not self._one_way:
            raw = await self._call(lambda: self._client.fapiPrivateGetPositionSideDual())
            dual = raw.get("dualSidePosition") if isinstance(raw, dict) else None
            if dual in (True, "true"):
                raise OrderRejected(TradingErrorClass.ORDER_REJECTED, HEDGE_MODE)
            self._one_way = True
        await self._call(lambda: self._isolated(contract))
        leverage = {"symbol": contract, "leverage": self.leverage}
        await self._call(lambda: self._client.fapiPrivatePostLeverage(leverage))
        self._set_up.add(contract)

    async def _isolated(self, contract: str) -> object:
        import ccxt

        try:
            return await self._client.fapiPrivatePostMarginType(
                {"symbol": contract, "marginType": "ISOLATED"}
            )
        except ccxt.BaseError as e:
            if f'"code":{_ALREADY_ISOLATED}' in str(e).replace(" ", ""):
                return None
            raise

    async def _order_rows(self, symbol: str, start: int | None) -> list[dict[str, Any]]:
        return await self._history(self._order_pages, "fetch_orders", symbol, start)

    async def _fill_rows(self, symbol: str, start: int | None) -> list[dict[str, Any]]:
        return await self._history(self._fill_pages, "fetch_my_trades", symbol, start)

    async def _history(
        self, pager: HistoryPager, method: str, symbol: str, start: int | None
    ) -> list[Row]:
        """Every row of ccxt's `method` (fetch_orders, fetch_my_trades) on `symbol` from
        `start` (ms), paged by `pager`."""

        async def page(begin: int, until: int | None, limit: int) -> list[Row]:
            params: dict[str, Any] = {} if until is None else {"until": until}
            return list(
                await self._call(
                    lambda: getattr(self._client, method)(symbol, begin, limit, params)
                )
            )

        return await pager.read(
            symbol, page, start or 0, int(self._now_ms()), key=row_id, stamp=row_stamp
        )

    async def _position_contracts(self, market: Mapping[str, Any]) -> Decimal:
        """GET /fapi/v2/positionRisk: positionAmt, signed, in base (one-way: side BOTH)."""
        contract = str(market.get("id") or "")
        rows = await self._call(
            lambda: self._client.fapiPrivateV2GetPositionRisk({"symbol": contract})
        )
        listed = rows if isinstance(rows, list) else []
        amounts = [
            dec(r.get("positionAmt"))
            for r in listed
            if isinstance(r, dict) and r.get("symbol") == contract
        ]
        return sum(amounts, Decimal(0))

    async def _account(self) -> tuple[Decimal, Decimal]:
        """GET /fapi/v2/balance: USDT availableBalance free; the rest of the wallet (isolated
        position margin, open orders' margin) locked."""
        rows = await self._call(lambda: self._client.fapiPrivateV2GetBalance())
        row = next(
            (r for r in rows if isinstance(r, dict) and r.get("asset") == SETTLE), None
        ) if isinstance(rows, list) else None  # fmt: skip
        if row is None:
            return Decimal(0), Decimal(0)
        free = dec(row.get("availableBalance"))
        return free, max(Decimal(0), dec(row.get("balance")) - free)
