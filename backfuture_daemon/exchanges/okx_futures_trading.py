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

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from backfuture_daemon.exchanges import okx
from backfuture_daemon.exchanges.futures_trading import SETTLE, CcxtFuturesTrading, perpetual
from backfuture_daemon.exchanges.okx_trading import (
    FILLS_WINDOW_S,
    ORDERS_WINDOW_S,
    RATE_WINDOW_S,
    fill_of,
    order_ack,
    per_order_error,
)
from backfuture_daemon.exchanges.order_values import dec
from backfuture_daemon.exchanges.port import (
    Fill,
    OrderAck,
    OrderRejected,
    OrderRequest,
    OrderState,
    TradingErrorClass,
    TradingUnavailable,
)

if TYPE_CHECKING:
    from backfuture_daemon.configuration.models import Connection, Endpoints
    from backfuture_daemon.exchanges.ccxt_base import AdapterContext
    from backfuture_daemon.exchanges.clients import ClientSpec
    from backfuture_daemon.exchanges.markets import MarketCache

T = TypeVar("T")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
PAGE, MAX_PAGES = 100, 50
Rows = list[dict[str, Any]]
SPOT_MODE = "1"
NET_MODE = "net_mode"


def _data(response: Any) -> Rows:
    data = response.get("data") if isinstance(response, dict) else None
    return [r for r in data or [] if isinstance(r, dict)]


class OkxFuturesTrading(CcxtFuturesTrading):
    """`TradingPort` for one OKX connection's USDT swaps at one leverage (isolated margin, net
    position mode); reduce-only per order. `await close()` at the end."""

    venue_name = "OKX swaps"

    def __init__(
        self,
        connection: Connection,
        ctx: AdapterContext,
        markets: MarketCache,
        *,
        leverage: int = 1,
    ) -> None:
        super().__init__(connection, ctx, markets, leverage=leverage)
        #: the account's mode was read and trades swaps in net mode (checked once).
        self._account_ok = False
        #: instIds whose isolated leverage is known to be this port's.
        self._levered: set[str] = set()
        #: pair -> when this port last listed its fills (epoch seconds).
        self._listed_at: dict[str, float] = {}

    @classmethod
    def futures_spec(cls, endpoints: Endpoints | None) -> ClientSpec:
        return okx.client_spec(endpoints)

    def _client_id(self, client_order_id: str) -> str:
        if not _CLIENT_ID.match(client_order_id):
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
        except OrderRejected as e:
            # 51400-51402: filled, canceled or unknown; the first two answer their final state
            if e.error_class is not TradingErrorClass.ORDER_REJECTED:
                raise
            after = await self.fetch_order_by_client_id(pair, cid)
            if after is None or after.state is OrderState.OPEN:
                raise
            return after
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
        rows: Rows = []
        after = ""
        for _ in range(MAX_PAGES):
            query = {**params, "limit": str(PAGE), **({"after": after} if after else {})}
            page = _data(await self._call(partial(fetch, query)))
            rows += page
            after = str(page[-1].get(cursor) or "") if len(page) >= PAGE else ""
            if not after:
                break
        return rows

    async def open_orders(self, pair: str) -> tuple[OrderAck, ...]:
        rows = await self._list("privateGetTradeOrdersPending", pair, 0, "ordId")
        return tuple(self._in_base(order_ack(r, pair), pair) for r in rows)

    async def orders_since(self, pair: str, since: float) -> tuple[OrderAck, ...]:
        """Every order on `pair`'s swap created from `since`, open and done (as far back as OKX
        keeps history: 3 months; canceled unfilled orders 2 hours): the rebuild's read."""
        start = max(int(since * 1000), 0)
        lists = [("privateGetTradeOrdersPending", 0), ("privateGetTradeOrdersHistory", start)]
        if since < self._ctx.clock() - ORDERS_WINDOW_S:
            lists.insert(0, ("privateGetTradeOrdersHistoryArchive", start))
        acks: dict[str, OrderAck] = {}
        for name, begin in lists:  # fresher lists last: their rows win
            for row in await self._list(name, pair, begin, "ordId"):
                ack = self._in_base(order_ack(row, pair), pair)
                if (ack.timestamp or 0.0) * 1000 >= start:
                    acks[ack.order_id] = ack
        return tuple(sorted(acks.values(), key=lambda a: (a.timestamp or 0.0, a.order_id)))

    async def fills_since(self, pair: str, since: float) -> tuple[Fill, ...]:
        """Executions on `pair`'s swap from `since` (inclusive), oldest first, in base, each
        with its order's clOrdId; older than 3 days: the 3-month list once per pair."""
        start = max(int(since * 1000), 0)
        now = self._ctx.clock()
        listed = self._listed_at.get(pair, 0.0)
        recent = max(since, listed) >= now - FILLS_WINDOW_S
        endpoint = "privateGetTradeFills" if recent else "privateGetTradeFillsHistory"
        rows = await self._list(endpoint, pair, start, "billId")
        lot = self._lot(pair)
        fills: dict[str, Fill] = {}
        for row in rows:
            fill = fill_of(row, pair, self._cids)
            if fill.timestamp * 1000 >= start:
                fills[fill.trade_id] = replace(
                    fill, amount=fill.amount * lot, fee_currency=fill.fee_currency or SETTLE
                )
        self._listed_at[pair] = now
        return tuple(sorted(fills.values(), key=lambda f: (f.timestamp, f.trade_id)))

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
