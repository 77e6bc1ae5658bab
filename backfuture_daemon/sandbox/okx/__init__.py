"""OKX (v5 REST) on the sandbox's OKX port: the gateway (OKX's header checks in its order,
signatures over the bytes as received, faults, unknown URLs), public market data (time, system
status, instruments, tickers, books), the signed account endpoints (balance, config), spot
orders (trading.py) and their history (history.py: orders-history, fills).
server.py (or a test fixture) mounts `account.routes()`.
"""

from backfuture_daemon.sandbox.okx import account, gateway, history, market_data, signing, trading

__all__ = ["account", "gateway", "history", "market_data", "signing", "trading"]
