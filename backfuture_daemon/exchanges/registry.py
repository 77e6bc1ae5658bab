"""Which adapter serves which exchange. Adding an exchange = one module + one entry here.

Read by probes.ConnectionTester; the config models' `ExchangeName` lists the same names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backfuture_daemon.exchanges.ccxt_base import AdapterContext
from backfuture_daemon.exchanges.port import ExchangeAdapter

if TYPE_CHECKING:
    from backfuture_daemon.configuration.models import Connection


def _mexc(connection: Connection, ctx: AdapterContext) -> ExchangeAdapter:
    from backfuture_daemon.exchanges.mexc import MexcAdapter

    return MexcAdapter(connection, ctx)


def _kucoin(connection: Connection, ctx: AdapterContext) -> ExchangeAdapter:
    from backfuture_daemon.exchanges.kucoin import KucoinAdapter

    return KucoinAdapter(connection, ctx)


ADAPTERS = {"mexc": _mexc, "kucoin": _kucoin}


def adapter_for(connection: Connection, ctx: AdapterContext) -> ExchangeAdapter:
    try:
        factory = ADAPTERS[str(connection.exchange)]
    except KeyError:
        raise ValueError(f"no exchange adapter for {connection.exchange!r}") from None
    return factory(connection, ctx)
