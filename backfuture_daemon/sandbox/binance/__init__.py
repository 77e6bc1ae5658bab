"""Binance spot on the sandbox's Binance port: the gateway (auth in Binance's order, faults,
unknown URLs, signing over the bytes as received), public market data and the signed account,
key-permission and test-order endpoints. server.py (or a test fixture) mounts `spot.routes()`.
"""

from backfuture_daemon.sandbox.binance import gateway, market_data, signing, spot

__all__ = ["gateway", "market_data", "signing", "spot"]
