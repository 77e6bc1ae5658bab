"""Which adapter serves which exchange. Adding an exchange = one module + one entry here.

Read by probes.ConnectionTester (adapters) and market_data.MarketDataHub (public client specs);
the config models' `ExchangeName` lists the same names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backfuture_daemon.exchanges.ccxt_base import AdapterContext
from backfuture_daemon.exchanges.port import ExchangeAdapter

if TYPE_CHECKING:
    from backfuture_daemon.configuration.models import Connection, Endpoints
    from backfuture_daemon.exchanges.clients import ClientSpec


def _mexc(connection: Connection, ctx: AdapterContext) -> ExchangeAdapter:
    from backfuture_daemon.exchanges.mexc import MexcAdapter

    return MexcAdapter(connection, ctx)


def _kucoin(connection: Connection, ctx: AdapterContext) -> ExchangeAdapter:
    from backfuture_daemon.exchanges.kucoin import KucoinAdapter

    return KucoinAdapter(connection, ctx)


def _binance(connection: Connection, ctx: AdapterContext) -> ExchangeAdapter:
    from backfuture_daemon.exchanges.binance import BinanceAdapter

    return BinanceAdapter(connection, ctx)


def _bybit(connection: Connection, ctx: AdapterContext) -> ExchangeAdapter:
    from backfuture_daemon.exchanges.bybit import BybitAdapter

    return BybitAdapter(connection, ctx)


def _okx(connection: Connection, ctx: AdapterContext) -> ExchangeAdapter:
    from backfuture_daemon.exchanges.okx import OkxAdapter

    return OkxAdapter(connection, ctx)


ADAPTERS = {"mexc": _mexc, "kucoin": _kucoin, "binance": _binance, "okx": _okx, "bybit": _bybit}


def adapter_for(connection: Connection, ctx: AdapterContext) -> ExchangeAdapter:
    try:
        factory = ADAPTERS[str(connection.exchange)]
    except KeyError:
        raise ValueError(f"no exchange adapter for {connection.exchange!r}") from None
    return factory(connection, ctx)


def public_spec(exchange: str, endpoints: Endpoints | None) -> ClientSpec:
    """The credential-free client spec of `exchange` at `endpoints` (spot): its `cache_key` is
    the endpoint's identity, shared by every connection pointing there."""
    from backfuture_daemon.exchanges import binance, bybit, kucoin, mexc, okx

    if exchange == "mexc":
        return mexc.client_spec(endpoints)
    if exchange == "kucoin":
        return kucoin.client_spec(endpoints)
    if exchange == "binance":
        return binance.client_spec(endpoints)
    if exchange == "bybit":
        return bybit.client_spec(endpoints)
    if exchange == "okx":
        return okx.client_spec(endpoints)
    raise ValueError(f"no exchange adapter for {exchange!r}")
