"""Live spot trading on Bybit: `CcxtTrading` with what Bybit does differently (orders found by
`orderLinkId`). Built by exchanges/venue_ports.py."""

from __future__ import annotations

from backfuture_daemon.exchanges.trading import CcxtTrading


class BybitTrading(CcxtTrading):
    """`TradingPort` for one Bybit connection (spot)."""
