"""The Binance USDⓈ-M perpetuals the sandbox lists and how a request names one: `BTCUSDT` and
`ETHUSDT` following the spot price feed (× the controlled basis, quotes.perp_price), quantities
in BASE (one "contract" is one base unit) on Binance's LOT_SIZE steps. Used by binance/futures.py
(exchangeInfo, ticker, depth), futures_account.py and futures_trading.py.
"""

from __future__ import annotations

from decimal import Decimal

from backfuture_daemon.sandbox.binance.gateway import Params, err
from backfuture_daemon.sandbox.catalogue import Contract
from backfuture_daemon.sandbox.venue import Venue

#: multiplier 1: Binance sizes futures orders and positions in base units.
CONTRACTS: tuple[Contract, ...] = (
    Contract("BTCUSDT", "BTC/USDT", "BTC", Decimal(1), Decimal("0.1"), 125),
    Contract("ETHUSDT", "ETH/USDT", "ETH", Decimal(1), Decimal("0.01"), 100),
)
BY_ID: dict[str, Contract] = {c.id: c for c in CONTRACTS}
#: LOT_SIZE stepSize (= minQty) per contract, in base.
STEP: dict[str, Decimal] = {"BTCUSDT": Decimal("0.001"), "ETHUSDT": Decimal("0.001")}
#: MIN_NOTIONAL `notional` (USDT) of an order.
MIN_NOTIONAL = Decimal(5)


def listed(venue: Venue) -> list[Contract]:
    """The contracts whose underlying the venue's catalogue prices."""
    by_symbol = venue.engine.catalogue.by_symbol
    return [c for c in CONTRACTS if c.underlying in by_symbol]


def contract_of(venue: Venue, params: Params, *, required: bool = True) -> Contract | None:
    """The contract a request's `symbol` names: -1102 when missing (if required), -1121 when
    Binance lists no such perpetual."""
    symbol = params.get("symbol")
    if not symbol:
        if required:
            raise err(
                -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
            )
        return None
    c = BY_ID.get(symbol)
    if c is None or c not in listed(venue):
        raise err(-1121, "Invalid symbol.")
    return c
