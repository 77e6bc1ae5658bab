"""Binance spot on the sandbox's Binance port: the gateway (auth in Binance's order, faults,
unknown URLs, signing over the bytes as received), public market data and the signed account,
key-permission and test-order endpoints, and USDⓈ-M futures (fapi) on the same port.
server.py (or a test fixture) mounts `spot.routes()`.
"""

from backfuture_daemon.sandbox.binance import futures, gateway, market_data, signing, spot

__all__ = ["futures", "gateway", "market_data", "signing", "spot"]
