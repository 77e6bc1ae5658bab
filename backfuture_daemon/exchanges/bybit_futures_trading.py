"""Live trading on Bybit USDT linear perpetuals (v5 `category=linear`, unified trading account)
behind `TradingPort`: `CcxtFuturesTrading` with what Bybit does differently. Built by
exchanges/venue_ports.py (`futures_port`) for a live bot with `market: futures` on `exchange:
bybit`.

* Quantities are in the BASE coin (ccxt contractSize 1): an order's base amount is rounded down
  to the contract's `qtyStep` and must reach `minOrderQty` (`_quantity_step`).
* Before the first order on a symbol the account is checked and set up once: a unified account
  (`GET /v5/account/info` unifiedMarginStatus >= 3) whose account-level margin mode is
  ISOLATED_MARGIN (Bybit has no per-symbol isolated mode on a unified account: `POST
  /v5/position/switch-isolated` is for classic accounts; the port never switches the whole
  account, it refuses and says how), one-way position mode (`GET /v5/position/list` rows with
  positionIdx 0 only; orders carry positionIdx 0), then `POST /v5/position/set-leverage` (buy =
  sell = the strategy's leverage; 110043 "leverage not modified" is success).
* Orders carry `orderLinkId` (1..36 letters, digits, `-`, `_`) and `reduceOnly` as the request
  says. ccxt cannot find or cancel by client id on a unified account, so lookups read `GET
  /v5/order/realtime` then `/v5/order/history` by orderLinkId and cancels send it to `POST
  /v5/order/cancel` (110001 on a done order: its final state). A duplicate orderLinkId (110072)
  answers the existing order (the base class adopts it).
* Executions (`GET /v5/execution/list`) carry their orderLinkId; lists are cursor-paged, a week
  per request. The position is `GET /v5/position/list` (side Buy/Sell + size, signed base); the
  balances the unified wallet's USDT (`GET /v5/account/wallet-balance`): free =
  availableToWithdraw, or (Bybit leaves it empty on unified accounts) walletBalance - locked -
  totalPositionIM - totalOrderIM; locked = position IM + order IM.
* A UID rate limit (10006) waits until `X-Bapi-Limit-Reset-Timestamp` (bybit.BybitLimits).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

from backfuture_daemon.exchanges import bybit
from backfuture_daemon.exchanges.bybit_orders import LINK_ID, BybitOrders
from backfuture_daemon.exchanges.bybit_orders import order_ack as spot_ack
from backfuture_daemon.exchanges.bybit_orders import result_of as _result
from backfuture_daemon.exchanges.futures_trading import SETTLE, CcxtFuturesTrading
from backfuture_daemon.exchanges.order_values import dec
from backfuture_daemon.exchanges.port import (
    OrderAck,
    OrderRejected,
    OrderRequest,
    Side,
    TradingErrorClass,
)

if TYPE_CHECKING:
    from backfuture_daemon.configuration.models import Endpoints
    from backfuture_daemon.exchanges.clients import ClientSpec

CATEGORY = "linear"
ISOLATED = "ISOLATED_MARGIN"
#: "Set leverage not modified": the symbol already has this leverage.
LEVERAGE_NOT_MODIFIED = "110043"


def linear_ack(row: dict[str, Any], pair: str, cid: str = "") -> OrderAck:
    """One v5 linear order row as an `OrderAck`: qty is the base amount, also for market orders
    (the spot row's market-Buy-by-value rule does not apply)."""
    return spot_ack({**row, "marketUnit": "baseCoin"}, pair, cid)


class BybitFuturesTrading(BybitOrders, CcxtFuturesTrading):
    """`TradingPort` for one Bybit connection's USDT linear perpetuals at one leverage
    (isolated margin, one-way mode); reduce-only per order. `await close()` at the end."""

    venue_name = "Bybit linear perpetuals"
    category = CATEGORY

    def _start(self) -> None:
        self._record_limit_reset()  # on the linear client that replaced the spot one
        #: symbols whose account checks and leverage are done (once per port)
        self._set_up: set[str] = set()

    @classmethod
    def futures_spec(cls, endpoints: Endpoints | None) -> ClientSpec:
        """Bybit's one v5 host: the same client spec (and shared markets) as spot."""
        return bybit.client_spec(endpoints)

    def _order_params(self, cid: str, order: OrderRequest) -> dict[str, Any]:
        params: dict[str, Any] = {"orderLinkId": cid, "positionIdx": 0}
        if order.reduce_only:
            params["reduceOnly"] = True
        return params

    def _quantity_step(self, market: Mapping[str, Any]) -> tuple[Decimal, Decimal]:
        """(qtyStep, minOrderQty) in base (ccxt: precision.amount, limits.amount.min)."""
        return self._market_step(market, "the contract has no qtyStep")

    def _row_ack(self, row: dict[str, Any], pair: str, cid: str = "") -> OrderAck:
        return linear_ack(row, pair, cid)

    def _fee_coin(self, pair: str, side: Side) -> str:
        return SETTLE

    async def _symbol(self, pair: str) -> str:
        await self._call(self._loaded)
        return str(self._market(pair)["id"])

    # ---- account set-up --------------------------------------------------------------------

    def _refuse(self, why: str) -> OrderRejected:
        return OrderRejected(TradingErrorClass.ORDER_REJECTED, f"bybit: {why}; nothing sent")

    async def _before_order(self, pair: str) -> None:
        """Once per symbol: a unified account in isolated margin, one-way mode, and the
        strategy's leverage on the symbol. A wrong mode is refused, never changed."""
        symbol = await self._symbol(pair)
        if symbol in self._set_up:
            return
        info = _result(await self._call(self._client.privateGetV5AccountInfo))
        status, mode = info.get("unifiedMarginStatus"), str(info.get("marginMode") or "")
        if not isinstance(status, int) or status < 3:
            raise self._refuse(
                f"a classic account (unifiedMarginStatus {status}) cannot trade USDT perpetuals "
                "here: upgrade it to the unified trading account"
            )
        if mode != ISOLATED:
            raise self._refuse(
                f"the unified account's margin mode is {mode or 'unknown'}, not isolated: set "
                "it to Isolated Margin on Bybit (Unified Trading Account > Margin Mode) with no "
                "position open; the bot's position would otherwise share the account's margin"
            )
        rows = await self._pages(
            self._client.privateGetV5PositionList, {"category": CATEGORY, "symbol": symbol}
        )
        if any(str(r.get("positionIdx", "0")) != "0" for r in rows):
            raise self._refuse(
                f"{symbol} is in hedge mode (positionIdx 1/2): switch the USDT perpetuals to "
                "one-way mode on Bybit"
            )
        lev = str(self.leverage)
        query = {"category": CATEGORY, "symbol": symbol, "buyLeverage": lev, "sellLeverage": lev}
        try:
            await self._call(partial(self._client.privatePostV5PositionSetLeverage, query))
        except OrderRejected as refused:
            if LEVERAGE_NOT_MODIFIED not in str(refused):
                raise
        self._set_up.add(symbol)

    # ---- position and balances -------------------------------------------------------------

    async def _position_contracts(self, market: Mapping[str, Any]) -> Decimal:
        """`GET /v5/position/list`: side Buy -> +size, Sell -> -size (base; 0 when flat)."""
        query = {"category": CATEGORY, "symbol": str(market.get("id"))}
        total = Decimal(0)
        for row in await self._pages(self._client.privateGetV5PositionList, query):
            size = dec(row.get("size"))
            total += size if row.get("side") == "Buy" else -size if row.get("side") else 0
        return total

    async def _account(self) -> tuple[Decimal, Decimal]:
        answer = await self._call(
            lambda: self._client.privateGetV5AccountWalletBalance({"accountType": "UNIFIED"})
        )
        for account in _result(answer).get("list") or []:
            for row in account.get("coin") or [] if isinstance(account, dict) else []:
                if isinstance(row, dict) and str(row.get("coin")).upper() == SETTLE:
                    margin = dec(row.get("totalPositionIM")) + dec(row.get("totalOrderIM"))
                    if row.get("availableToWithdraw") not in (None, ""):
                        return dec(row.get("availableToWithdraw")), margin
                    wallet, locked = dec(row.get("walletBalance")), dec(row.get("locked"))
                    return wallet - locked - margin, margin
        return Decimal(0), Decimal(0)


__all__ = ["CATEGORY", "LINK_ID", "BybitFuturesTrading", "linear_ack"]
