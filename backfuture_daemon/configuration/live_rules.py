"""Where `mode: live` can run in this version: spot on the exchanges with a live order path.

Called by configuration/rules.py for every strategy; a live strategy elsewhere is a rejected
revision with a message naming what works, never a bot started without a way to trade.
"""

from __future__ import annotations

from backfuture_daemon.configuration.models import Connection, Market, Strategy

#: Exchanges whose live order path (exchanges/trading.py VENUES, crash-tested) exists, spot only.
#: A live strategy elsewhere is refused here rather than started without a way to trade.
LIVE_SPOT_EXCHANGES: frozenset[str] = frozenset({"mexc", "kucoin", "binance", "okx", "bybit"})


def check_live(s: Strategy, conn: Connection) -> str | None:
    """Why `mode: live` cannot run for this strategy in this version; None when it can."""
    if s.mode.value != "live":
        return None
    if s.market is Market.FUTURES:
        return (
            "live trading on futures is not available in this version; use mode: paper "
            "(futures connections are still tested)"
        )
    if conn.exchange.value not in LIVE_SPOT_EXCHANGES:
        return (
            f"live trading on {conn.exchange.value} is not available in this version (live: "
            f"{', '.join(sorted(LIVE_SPOT_EXCHANGES))}); use mode: paper"
        )
    return None
