"""OKX (v5 REST) on the sandbox's OKX port: the gateway (OKX's header checks in its order,
signatures over the bytes as received, faults, unknown URLs), public market data (time, system
status, instruments, tickers, books; swaps at the perpetual's price), the signed account
endpoints (balance, config), orders (trading.py: spot; swap.py: USDT swaps, isolated, net mode)
and their history (history.py: orders-history, fills), the swap account (swap_account.py:
set-leverage, set-position-mode, leverage-info, positions).
server.py (or a test fixture) mounts `account.routes()`.
"""

from backfuture_daemon.sandbox.okx import (
    account,
    gateway,
    history,
    market_data,
    order_body,
    signing,
    swap,
    swap_account,
    trading,
)

__all__ = [
    "account",
    "gateway",
    "history",
    "market_data",
    "order_body",
    "signing",
    "swap",
    "swap_account",
    "trading",
]
