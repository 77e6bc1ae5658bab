"""Bybit v5 on the sandbox's Bybit port: the gateway (auth in Bybit's order, HTTP 200 + retCode
errors, faults, signing over the bytes as received), public market data (spot and USDT linear
perpetuals), the signed wallet and key-info endpoints, spot orders on the shared engine
(trading.py) and USDT linear perpetual orders on its futures orders (linear.py) with their
positions, leverage and margin mode (linear_account.py).
server.py (or a test fixture) mounts `account.routes()`.
"""

from backfuture_daemon.sandbox.bybit import (
    account,
    gateway,
    linear,
    linear_account,
    market_data,
    signing,
    trading,
)

__all__ = [
    "account",
    "gateway",
    "linear",
    "linear_account",
    "market_data",
    "signing",
    "trading",
]
