"""MEXC on the sandbox's MEXC port: the gateway (auth, faults, unknown URLs), spot v3 market data
(market_data), orders (trading) and the contract v1 API. server.py mounts `spot.routes()` and
`contract.routes()`.
"""

from backfuture_daemon.sandbox.mexc import contract, gateway, market_data, spot, trading

__all__ = ["contract", "gateway", "market_data", "spot", "trading"]
