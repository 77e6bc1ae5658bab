"""Which `TradingPort` class trades on which exchange and market: the one place a new exchange's
live path is registered. `trading_port` (spot) and `futures_port` are called by
exchanges/live_ports.py (the daemon) and the tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backfuture_daemon.exchanges.binance_futures_trading import BinanceFuturesTrading
from backfuture_daemon.exchanges.bybit_futures_trading import BybitFuturesTrading
from backfuture_daemon.exchanges.bybit_trading import BybitTrading
from backfuture_daemon.exchanges.ccxt_base import AdapterContext
from backfuture_daemon.exchanges.futures_trading import CcxtFuturesTrading
from backfuture_daemon.exchanges.kucoin_futures_trading import KucoinFuturesTrading
from backfuture_daemon.exchanges.okx_futures_trading import OkxFuturesTrading
from backfuture_daemon.exchanges.okx_trading import OkxTrading
from backfuture_daemon.exchanges.trading import VENUES, CcxtTrading

if TYPE_CHECKING:
    from backfuture_daemon.configuration.models import Connection
    from backfuture_daemon.exchanges.markets import MarketCache

#: Exchanges whose spot trading differs from `CcxtTrading`'s; the rest use it as it is.
SPOT_PORTS: dict[str, type[CcxtTrading]] = {"okx": OkxTrading, "bybit": BybitTrading}
#: Exchanges with a live futures (USDT perpetual) order path. MEXC's futures API refuses
#: orders; the others have none here yet (configuration/live_rules.py refuses them).
FUTURES_PORTS: dict[str, type[CcxtFuturesTrading]] = {
    "kucoin": KucoinFuturesTrading,
    "bybit": BybitFuturesTrading,
    "okx": OkxFuturesTrading,
    "binance": BinanceFuturesTrading,
}


def trading_port(connection: Connection, ctx: AdapterContext, markets: MarketCache) -> CcxtTrading:
    """The spot trading port of `connection`; ValueError for an exchange without a live path."""
    exchange = str(connection.exchange)
    if exchange not in VENUES:
        raise ValueError(f"no trading adapter for {connection.exchange!r}")
    return SPOT_PORTS.get(exchange, CcxtTrading)(connection, ctx, markets)


def futures_port(
    connection: Connection,
    ctx: AdapterContext,
    markets: MarketCache,
    *,
    leverage: int = 1,
) -> CcxtFuturesTrading:
    """The futures trading port of `connection` at `leverage` (isolated margin); each order says
    itself whether it is reduce-only; ValueError without a futures path."""
    port = FUTURES_PORTS.get(str(connection.exchange))
    if port is None:
        raise ValueError(f"no futures trading adapter for {connection.exchange!r}")
    return port(connection, ctx, markets, leverage=leverage)
