"""Where `mode: live` can run in this version: spot on the exchanges with a live order path, and
futures (USDT perpetuals, isolated margin) on KuCoin, Binance USDⓈ-M, OKX swap and Bybit linear.

Called by configuration/rules.py for every strategy; a live strategy elsewhere is a rejected
revision with a message naming what works, never a bot started without a way to trade.
"""

from __future__ import annotations

from collections.abc import Sequence

from backfuture_daemon.configuration.models import Connection, Market, Strategy

#: Exchanges whose live order path (exchanges/trading.py VENUES, crash-tested) exists, spot only.
#: A live strategy elsewhere is refused here rather than started without a way to trade.
LIVE_SPOT_EXCHANGES: frozenset[str] = frozenset({"mexc", "kucoin", "binance", "okx", "bybit"})
#: Exchanges with a live futures order path (exchanges/venue_ports.FUTURES_PORTS).
LIVE_FUTURES_EXCHANGES: frozenset[str] = frozenset({"kucoin", "okx", "bybit", "binance"})


def check_live(s: Strategy, conn: Connection) -> str | None:
    """Why `mode: live` cannot run for this strategy in this version; None when it can."""
    if s.mode.value != "live":
        return None
    exchange = conn.exchange.value
    if s.market is Market.FUTURES:
        if exchange in LIVE_FUTURES_EXCHANGES:
            return None
        if exchange == "mexc":
            return (
                "live trading on mexc futures is impossible: MEXC's futures API refuses orders "
                "(live futures: kucoin); use mode: paper"
            )
        return (
            f"live trading on {exchange} futures is not available in this version (live "
            f"futures: {', '.join(sorted(LIVE_FUTURES_EXCHANGES))}); use mode: paper "
            "(futures connections are still tested)"
        )
    if exchange not in LIVE_SPOT_EXCHANGES:
        return (
            f"live trading on {exchange} is not available in this version (live: "
            f"{', '.join(sorted(LIVE_SPOT_EXCHANGES))}); use mode: paper"
        )
    return None


def netting_conflicts(strategies: Sequence[Strategy]) -> dict[int, str]:
    """Live futures strategies that would trade one contract on one connection: index -> why.

    A futures account in one-way position mode holds one position per contract, so two live bots
    on it would net each other's entries and exits (and each would read the other's position as
    its own being closed outside it). The first strategy keeps the pair; every later one is told.
    """
    owner: dict[tuple[str, str], str] = {}
    out: dict[int, str] = {}
    for i, s in enumerate(strategies):
        if s.mode.value != "live" or s.market is not Market.FUTURES:
            continue
        taken = [(p, owner[(s.connection, p)]) for p in s.pairs if (s.connection, p) in owner]
        if taken:
            pair, first = taken[0]
            out[i] = (
                f'{pair} is already traded live on futures by strategy "{first}" on connection '
                f'"{s.connection}": one-way position mode nets the two bots into one position; '
                "use a separate (sub-)account connection for the second bot, or mode: paper"
            )
        for p in s.pairs:
            owner.setdefault((s.connection, p), s.name)
    return out
