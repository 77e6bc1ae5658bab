"""OKX (v5 REST) on the sandbox's OKX port: the gateway (OKX's header checks in its order,
signatures over the bytes as received, faults, unknown URLs), public market data (time, system
status, instruments, tickers, books) and the signed account endpoints (balance, config).
server.py (or a test fixture) mounts `account.routes()`.
"""

from backfuture_daemon.sandbox.okx import account, gateway, market_data, signing

__all__ = ["account", "gateway", "market_data", "signing"]
