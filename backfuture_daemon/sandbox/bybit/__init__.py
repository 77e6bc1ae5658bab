"""Bybit v5 on the sandbox's Bybit port: the gateway (auth in Bybit's order, HTTP 200 + retCode
errors, faults, signing over the bytes as received), public market data (spot and USDT linear
perpetuals) and the signed wallet, key-info and order endpoints.
server.py (or a test fixture) mounts `account.routes()`.
"""

from backfuture_daemon.sandbox.bybit import account, gateway, market_data, signing

__all__ = ["account", "gateway", "market_data", "signing"]
