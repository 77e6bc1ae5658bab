"""Live spot trading on OKX: `CcxtTrading` with what OKX does differently (clOrdId letters and
digits only, up to 32). Built by exchanges/venue_ports.py."""

from __future__ import annotations

from backfuture_daemon.exchanges.trading import CcxtTrading


class OkxTrading(CcxtTrading):
    """`TradingPort` for one OKX connection (spot)."""
