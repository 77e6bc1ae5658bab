"""Live trading on OKX USDT-margined perpetual swaps (`BTC-USDT-SWAP`, ccxt `BTC/USDT:USDT`)
behind `TradingPort`: `CcxtFuturesTrading` (exchanges/futures_trading.py: base <-> contracts,
reduce-only per order, duplicate adoption, rules, position in base) with what OKX does.

* One host and one client for spot and swaps (okx.client_spec loads both instrument lists).
* `sz` in contracts of `ctVal` base (0.01 BTC), rounded down to `lotSz` (0.01 contract), at
  least `minSz`; every order `tdMode: isolated`, `reduceOnly` when its request says so, its
  `clOrdId` 1..32 letters and digits (anything else refused before it is sent).
* Before the first order, once per port: the account mode (`GET /api/v5/account/config`) must
  trade swaps (acctLv 1, Spot mode, cannot) and the position mode must be `net_mode` (the bots'
  one position per contract; `long_short_mode` is refused with what to switch); then the
  instrument's isolated leverage (`leverage-info`) is set to the port's if it differs
  (`POST /api/v5/account/set-leverage`, mgnMode isolated) — never re-sent when equal, since OKX
  refuses a change while orders rest (59101). Each refusal is `order_rejected`, named.
* Look-up and cancel by clOrdId (`trade/order`, `cancel-order`): 51603 is no such order (None);
  a cancel of an order already filled or canceled (51400-51402) answers its final state.
* Lists with instType SWAP, read from OKX's decimal strings: orders-pending, orders-history
  (7 days) and the archive (3 months) for older starts; fills from `trade/fills` (3 days) or
  `fills-history` (3 months), each naming its clOrdId; paged with `after`.
* `position(pair)`: `GET /api/v5/account/positions` (signed `pos` in net mode) in base;
  balances: the trading account's USDT (`availBal` free, `frozenBal` locked).
* Errors through okx_codes/classify: the per-order `sCode` is what is classified (51008
  insufficient margin, 51000/51121 order_rejected, 50011 rate limited, 5xx/50001 unavailable).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

from backfuture_daemon.exchanges import okx
from backfuture_daemon.exchanges.futures_trading import SETTLE, CcxtFuturesTrading, perpetual
from backfuture_daemon.exchanges.okx_orders import OkxOrders, Rows, okx_pages, order_ack
from backfuture_daemon.exchanges.okx_orders import data_rows as _data
from backfuture_daemon.exchanges.order_values import dec
from backfuture_daemon.exchanges.port import (
    Fill,
    OrderAck,
    OrderRejected,
    OrderRequest,
    TradingErrorClass,
)

if TYPE_CHECKING:
    from backfuture_daemon.configuration.models import Endpoints
    from backfuture_daemon.exchanges.clients import ClientSpec

PAGE = 100
SPOT_MODE = "1"
NET_MODE = "net_mode"


class OkxFuturesTrading(OkxOrders, CcxtFuturesTrading):
    """`TradingPort` for one OKX connection's USDT swaps at one leverage (isolated margin, net
    position mode); reduce-only per order. `await close()` at the end."""

    venue_name = "OKX swaps"

    def _start(self) -> None:
        #: the account's mode was read and trades swaps in net mode (checked once).
        self._account_ok = False
        #: instIds whose isolated leverage is known to be this port's.
        self._levered: set[str] = set()
        #: pair -> when this port last listed its fills (epoch seconds).
        self._listed_at: dict[str, float] = {}

    @classmethod
    def futures_spec(cls, endpoints: Endpoints | None) -> ClientSpec:
        return okx.client_spec(endpoints)

    def _inst_id(self, pair: str) -> str:
        return str(self._market(pair).get("id") or "")

    def _quantity_step(self, market: Mapping[str, Any]) -> tuple[Decimal, Decimal]:
        """lotSz and minSz in contracts (ccxt's amount precision and minimum)."""
        return self._market_step(market)

    def _order_params(self, cid: str, order: OrderRequest) -> dict[str, Any]:
        params: dict[str, Any] = {"clOrdId": cid, "marginMode": "isolated"}
        if order.reduce_only:
            params["reduceOnly"] = True
        return params

    def _by_client_id(self, cid: str) -> dict[str, Any]:
        return {"clOrdId": cid}

    # ---- before the first order ----------------------------------------------------------

    async def _before_order(self, pair: str) -> None:
        """The account trades swaps in net mode; the instrument's isolated leverage is ours."""
        if not self._account_ok:
            rows = _data(await self._call(lambda: self._client.privateGetAccountConfig()))
            config = rows[0] if rows else {}
            level, mode = str(config.get("acctLv") or ""), str(config.get("posMode") or "")
            if level == SPOT_MODE:
                raise OrderRejected(
                    TradingErrorClass.ORDER_REJECTED,
                    "the OKX account is in Spot mode (acctLv 1): it cannot trade swaps; switch "
                    "the account mode to Spot and futures (or a margin mode) on OKX, or trade "
                    "this strategy on spot",
                )
            if mode != NET_MODE:
                raise OrderRejected(
                    TradingErrorClass.ORDER_REJECTED,
                    f"the OKX account's position mode is {mode or 'unknown'}: the bots need "
                    "net_mode (Buy/Sell, one position per contract); switch the position mode "
                    "on OKX (with no swap positions or orders open)",
                )
            self._account_ok = True
        inst_id = self._inst_id(pair)
        if inst_id in self._levered:
            return
        lever = str(self.leverage)
        info = _data(
            await self._call(
                lambda: self._client.privateGetAccountLeverageInfo(
                    {"instId": inst_id, "mgnMode": "isolated"}
                )
            )
        )
        if not info or any(dec(r.get("lever")) != self.leverage for r in info):
            await self._call(
                lambda: self._client.privatePostAccountSetLeverage(
                    {"instId": inst_id, "lever": lever, "mgnMode": "isolated"}
                )
            )
        self._levered.add(inst_id)

    # ---- one order -------------------------------------------------------------------------

    def _in_base(self, ack: OrderAck, pair: str) -> OrderAck:
        lot = self._lot(pair)
        return self._remember(replace(ack, amount=ack.amount * lot, filled=ack.filled * lot))

    async def fetch_order_by_client_id(self, pair: str, client_order_id: str) -> OrderAck | None:
        cid = self._client_id(client_order_id)
        await self._call(self._loaded)
        inst_id = self._inst_id(pair)
        try:
            rows = _data(
                await self._call(
                    lambda: self._client.privateGetTradeOrder({"instId": inst_id, "clOrdId": cid})
                )
            )
        except OrderRejected as e:
            if e.error_class is TradingErrorClass.ORDER_REJECTED:
                return None  # 51603 Order does not exist
            raise
        return self._in_base(order_ack(rows[0], pair), pair) if rows else None

    async def cancel(self, pair: str, client_order_id: str) -> OrderAck:
        cid = self._client_id(client_order_id)
        await self._call(self._loaded)
        inst_id = self._inst_id(pair)
        try:
            await self._call(
                lambda: self._client.privatePostTradeCancelOrder(
                    {"instId": inst_id, "clOrdId": cid}
                )
            )
        except OrderRejected as e:  # 51400-51402: filled, canceled or unknown
            return await self._known(pair, cid, e, final=True)
        after = await self.fetch_order_by_client_id(pair, cid)
        if after is None:
            raise OrderRejected(TradingErrorClass.ORDER_REJECTED, f"no order {cid} on {pair}")
        return after

    # ---- lists -----------------------------------------------------------------------------

    async def _list(self, endpoint: str, pair: str, start_ms: int, cursor: str) -> Rows:
        """Every row of one newest-first OKX list on `pair`'s swap from `start_ms` (0: all),
        paged with `after=<oldest cursor>`."""
        await self._call(self._loaded)
        fetch = getattr(self._client, endpoint)
        params = {"instType": "SWAP", "instId": self._inst_id(pair)}
        if start_ms:
            params["begin"] = str(start_ms)
        return await okx_pages(
            lambda query: self._call(partial(fetch, query)), params, cursor, PAGE
        )

    def _order_of(self, row: dict[str, Any], pair: str) -> OrderAck:
        return self._in_base(order_ack(row, pair), pair)

    def _fills_in(self, pair: str) -> Callable[[Fill], Fill]:
        """A fill in base (amount x contract size), fees in USDT unless named."""
        lot = self._lot(pair)
        return lambda fill: replace(
            fill, amount=fill.amount * lot, fee_currency=fill.fee_currency or SETTLE
        )

    async def open_orders(self, pair: str) -> tuple[OrderAck, ...]:
        rows = await self._list("privateGetTradeOrdersPending", pair, 0, "ordId")
        return tuple(self._in_base(order_ack(r, pair), pair) for r in rows)

    # ---- account ---------------------------------------------------------------------------

    async def _position_contracts(self, market: Mapping[str, Any]) -> Decimal:
        """GET /api/v5/account/positions: `pos` is signed in net mode (a long/short-mode row
        counts by its posSide)."""
        inst_id = str(market.get("id") or "")
        rows = _data(
            await self._call(
                lambda: self._client.privateGetAccountPositions(
                    {"instType": "SWAP", "instId": inst_id}
                )
            )
        )
        total = Decimal(0)
        for r in rows:
            if str(r.get("instId")) != inst_id:
                continue
            pos, side = dec(r.get("pos")), str(r.get("posSide") or "net")
            total += abs(pos) if side == "long" else -abs(pos) if side == "short" else pos
        return total

    async def _account(self) -> tuple[Decimal, Decimal]:
        """The trading account's USDT: availBal free, frozenBal (margin, orders) locked."""
        rows = _data(
            await self._call(lambda: self._client.privateGetAccountBalance({"ccy": SETTLE}))
        )
        details = rows[0].get("details") if rows else None
        for d in details if isinstance(details, list) else []:
            if isinstance(d, dict) and str(d.get("ccy")).upper() == SETTLE:
                return dec(d.get("availBal")), dec(d.get("frozenBal"))
        return Decimal(0), Decimal(0)


__all__ = ["OkxFuturesTrading", "perpetual"]
