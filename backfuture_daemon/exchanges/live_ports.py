"""The live bots' trading ports: one `CcxtTrading` per (connection, market, leverage),
built from the applied config's `Connection` (its decrypted keys stay inside the ccxt client;
nothing here logs them) and rebuilt when the connection's settings or keys change. daemon_bots.py
hands `LivePorts.port(name, find, market=..., leverage=...)` to the bot supervisor as its
`live_port`; KuCoin's HF/classic account is read by CcxtTrading, futures trade through
exchanges/futures_trading.py (whose contract rules `ConnectionPort.rules` hands out).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

from backfuture_daemon.exchanges.ccxt_base import AdapterContext
from backfuture_daemon.exchanges.clients import ClientFactory
from backfuture_daemon.exchanges.futures_trading import CcxtFuturesTrading
from backfuture_daemon.exchanges.markets import MarketCache
from backfuture_daemon.exchanges.port import (
    Balance,
    Fill,
    OrderAck,
    OrderRejected,
    OrderRequest,
    TradingErrorClass,
)
from backfuture_daemon.exchanges.trading import CcxtTrading
from backfuture_daemon.exchanges.venue_ports import futures_port, trading_port
from backfuture_daemon.strategy.params import MarketRules

if TYPE_CHECKING:
    from backfuture_daemon.configuration.models import Connection

Find = Callable[[str], "Connection | None"]
#: (connection name, market, leverage): one port per way a bot trades on a connection; whether
#: an order is reduce-only is the order's own (`OrderRequest.reduce_only`), never the port's.
PortKey = tuple[str, str, int]


class LivePorts:
    """Owns the HTTP session, the market cache and every live port; `await close()` at the end."""

    def __init__(self, *, timeout: float = 10.0, clock: Callable[[], float] = time.time) -> None:
        self._factory = ClientFactory(timeout)
        self._markets = MarketCache(self._factory)
        self._ctx = AdapterContext(make_client=self._factory, clock=clock)
        self._ports: dict[PortKey, tuple[Connection, CcxtTrading]] = {}
        self._retired: list[CcxtTrading] = []

    def port(
        self,
        connection: str,
        find: Find,
        *,
        market: str = "spot",
        leverage: int = 1,
    ) -> ConnectionPort:
        """A port for `connection` that always trades with its current settings and keys: spot,
        or (`market="futures"`) its USDT perpetuals at `leverage`, isolated margin."""
        key: PortKey = (connection, market, leverage if market == "futures" else 1)
        return ConnectionPort(lambda: self._current(key, find))

    def _current(self, key: PortKey, find: Find) -> CcxtTrading:
        name, market, leverage = key
        connection = find(name)
        if connection is None:
            raise OrderRejected(
                TradingErrorClass.AUTH_REJECTED, f"connection {name!r} is not in the config"
            )
        held = self._ports.get(key)
        if held is not None and held[0] == connection:
            return held[1]
        if held is not None:
            self._retired.append(held[1])  # a tick may still use it: closed at the end
        if market == "futures":
            try:
                port: CcxtTrading = futures_port(
                    connection, self._ctx, self._markets, leverage=leverage
                )
            except ValueError as e:
                raise OrderRejected(TradingErrorClass.ORDER_REJECTED, str(e)) from None
        else:
            port = trading_port(connection, self._ctx, self._markets)
        self._ports[key] = (connection, port)
        return port

    async def close(self) -> None:
        ports = [p for _, p in self._ports.values()] + self._retired
        self._ports, self._retired = {}, []
        for port in ports:
            await port.close()
        await self._markets.close()
        await self._factory.close()


class ConnectionPort:
    """`TradingPort` of one connection, resolved on every call (keys may have changed)."""

    def __init__(self, resolve: Callable[[], CcxtTrading]) -> None:
        self._resolve = resolve

    async def place(self, order: OrderRequest) -> OrderAck:
        return await self._resolve().place(order)

    async def cancel(self, pair: str, client_order_id: str) -> OrderAck:
        return await self._resolve().cancel(pair, client_order_id)

    async def fetch_order_by_client_id(self, pair: str, client_order_id: str) -> OrderAck | None:
        return await self._resolve().fetch_order_by_client_id(pair, client_order_id)

    async def open_orders(self, pair: str) -> tuple[OrderAck, ...]:
        return await self._resolve().open_orders(pair)

    async def fills_since(self, pair: str, since: float) -> tuple[Fill, ...]:
        return await self._resolve().fills_since(pair, since)

    async def balances(self) -> Mapping[str, Balance]:
        return await self._resolve().balances()

    async def orders_since(self, pair: str, since: float) -> tuple[OrderAck, ...]:
        return await self._resolve().orders_since(pair, since)

    async def position(self, pair: str) -> Decimal | None:
        """The futures position of `pair` in base, signed (long > 0); None on spot (no
        positions: the bot holds the coins themselves)."""
        port = self._resolve()
        return await port.position(pair) if isinstance(port, CcxtFuturesTrading) else None

    def rules(self, pair: str, spot: MarketRules | None) -> MarketRules | None:
        """The rules a bot sizes `pair` by: `spot` on spot; on futures the contract's (whole
        lots in base units), None until its markets are loaded or when the port is unusable."""
        try:
            port = self._resolve()
        except OrderRejected:
            return None
        return port.rules(pair, spot) if isinstance(port, CcxtFuturesTrading) else spot
