"""KuCoin on the sandbox's two KuCoin ports: the gateway shared by both (auth, envelope, faults),
spot market data and orders (market_data, trading; classic + HF) on one port, and futures on the
other. server.py mounts `spot.routes()` and `futures.routes()`.
"""

from backfuture_daemon.sandbox.kucoin import futures, gateway, market_data, spot, trading

__all__ = ["futures", "gateway", "market_data", "spot", "trading"]
