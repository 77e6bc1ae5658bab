"""A pair's trading rules (price tick, amount step, minimums, fees) from a ccxt market.

Called by `MarketSubscription.rules` (exchanges/market_data.py) for the bots: the engine rounds
every order to these and skips orders under the minimums; the paper exchange rejects what a live
venue would and charges its fees. None when the market does not say enough to trade safely.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from backfuture_daemon.strategy.params import MarketRules

TICK_SIZE = 4  # ccxt.TICK_SIZE: precision values are step sizes (MEXC, KuCoin, and most others)


def rules_from_market(
    market: Mapping[str, Any], precision_mode: int = TICK_SIZE
) -> MarketRules | None:
    precision = market.get("precision") or {}
    tick = _step(precision.get("price"), precision_mode)
    step = _step(precision.get("amount"), precision_mode)
    if tick is None or step is None:
        return None
    limits = market.get("limits") or {}
    try:
        return MarketRules(
            price_tick=tick,
            amount_step=step,
            min_amount=_dec((limits.get("amount") or {}).get("min")) or Decimal(0),
            min_notional=_dec((limits.get("cost") or {}).get("min")) or Decimal(0),
            maker_fee=_fee(market.get("maker")),
            taker_fee=_fee(market.get("taker")),
        )
    except ValueError:
        return None


def _step(value: object, precision_mode: int) -> Decimal | None:
    number = _dec(value)
    if number is None or number <= 0:
        return None
    if precision_mode == TICK_SIZE:
        return number
    # DECIMAL_PLACES / SIGNIFICANT_DIGITS: a count of digits; the step is 10^-n.
    return Decimal(1).scaleb(-int(number))


def _fee(value: object) -> Decimal:
    fee = _dec(value)
    return fee if fee is not None and Decimal(0) <= fee < Decimal("0.5") else Decimal(0)


def _dec(value: object) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        out = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return out if out.is_finite() else None
