"""The engine's input: strategy parameters, market rules and quotes (not the YAML).

`DcaParams.from_sizing` turns a resolved `Sizing` plus the strategy's other fields into exact
decimals; `GroupSizing` is the snapshot a group keeps for life (sizing changes apply to new groups
only). `MarketRules` carry the exchange's precision, minimums and fees; `Quote` is one pair's top of
book. Built by the bots layer and tests; read by `engine`, `groups`, `recovery` and `ladder`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import Enum

from backfuture_daemon.strategy.sizing import Sizing

ZERO = Decimal(0)
HUNDRED = Decimal(100)


def dec(x: float | int | str | Decimal) -> Decimal:
    """An exact decimal for a config number: 1.1 is 1.1, not 1.100000000000000088817…"""
    if isinstance(x, Decimal):
        return x
    return Decimal(str(x))


class Side(Enum):
    """Direction of a group: LONG buys first (spot or futures); SHORT sells first (futures only,
    the configuration enforces it) and mirrors the ladder (strategy/direction.py)."""

    LONG = "long"
    SHORT = "short"


class Gate(Enum):
    """What the bot may do now (values match `bots.model.Gate`; CLOSE_ONLY = degraded key)."""

    RUN = "run"
    CLOSE_ONLY = "close_only"
    PAUSE = "pause"
    STOP = "stop"


class OnStop(Enum):
    """On a STOP gate, resting entries/adds are always cancelled; take profits kept or cancelled."""

    KEEP_TAKE_PROFIT = "keep_take_profit"
    CANCEL_ALL = "cancel_all"


class AddsAllowed(Enum):
    IMPROVE_ONLY = "improve_only"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class MarketRules:
    """One pair's exchange rules. Fee rates are fractions (0.001 = 0.1 %), charged in quote."""

    price_tick: Decimal
    amount_step: Decimal
    min_amount: Decimal = ZERO
    min_notional: Decimal = ZERO
    maker_fee: Decimal = ZERO
    taker_fee: Decimal = ZERO

    def __post_init__(self) -> None:
        if self.price_tick <= 0 or self.amount_step <= 0:
            raise ValueError("price_tick and amount_step must be positive")
        if not (
            ZERO <= self.maker_fee < Decimal("0.5") and ZERO <= self.taker_fee < Decimal("0.5")
        ):
            raise ValueError("fee rates must be fractions in [0, 0.5)")

    @property
    def fee_rate(self) -> Decimal:
        """The worse of maker and taker: a take profit must clear fees whichever way it fills."""
        return max(self.maker_fee, self.taker_fee)

    def price_down(self, price: Decimal) -> Decimal:
        return (price / self.price_tick).to_integral_value(ROUND_FLOOR) * self.price_tick

    def price_up(self, price: Decimal) -> Decimal:
        return (price / self.price_tick).to_integral_value(ROUND_CEILING) * self.price_tick

    def amount_down(self, amount: Decimal) -> Decimal:
        return (amount / self.amount_step).to_integral_value(ROUND_FLOOR) * self.amount_step

    def below_minimum(self, amount: Decimal, price: Decimal) -> str | None:
        """Why the exchange would refuse this order (None: it would accept it)."""
        if amount <= 0:
            return f"amount rounds to 0 (step {self.amount_step})"
        if amount < self.min_amount:
            return f"amount {amount} < exchange minimum {self.min_amount}"
        if amount * price < self.min_notional:
            return f"notional {amount * price:.8f} < exchange minimum {self.min_notional}"
        return None


@dataclass(frozen=True, slots=True)
class Quote:
    """Top of book for one pair, with the pair's rules (the market data the engine sees)."""

    bid: Decimal
    ask: Decimal
    rules: MarketRules

    def __post_init__(self) -> None:
        if self.bid <= 0 or self.ask <= 0:
            raise ValueError("bid and ask must be positive")


@dataclass(frozen=True, slots=True)
class RecoveryParams:
    """Recovery Mode (reference/bots.md §2.3 item 4): when a group enters it and what it may do."""

    enabled: bool = False
    drawdown_pct: Decimal = Decimal(8)
    adds_used_ratio: Decimal = Decimal("0.8")
    margin_used_ratio: Decimal = Decimal("0.8")
    adds_allowed: AddsAllowed = AddsAllowed.IMPROVE_ONLY
    add_size_multiplier: Decimal = Decimal("0.5")
    take_profit_pct: Decimal = Decimal("0.4")
    max_duration_h: Decimal = Decimal(168)

    @classmethod
    def build(
        cls,
        *,
        enabled: bool,
        drawdown_pct: float = 8.0,
        adds_used_ratio: float = 0.8,
        margin_used_ratio: float = 0.8,
        adds_allowed: str = "improve_only",
        add_size_multiplier: float = 0.5,
        take_profit_pct: float = 0.4,
        max_duration_h: float = 168.0,
    ) -> RecoveryParams:
        """From the config's floats and strings (configuration.models.RecoveryMode fields)."""
        return cls(
            enabled=enabled,
            drawdown_pct=dec(drawdown_pct),
            adds_used_ratio=dec(adds_used_ratio),
            margin_used_ratio=dec(margin_used_ratio),
            adds_allowed=AddsAllowed(adds_allowed),
            add_size_multiplier=dec(add_size_multiplier),
            take_profit_pct=dec(take_profit_pct),
            max_duration_h=dec(max_duration_h),
        )


@dataclass(frozen=True, slots=True)
class GroupSizing:
    """The ladder a group was opened with; kept by the group for life (3Commas semantics)."""

    base_order_quote: Decimal
    add_order_quote: Decimal
    max_adds: int
    max_active_adds: int
    step_pct: Decimal
    step_scale: Decimal
    volume_scale: Decimal
    take_profit_pct: Decimal
    min_avg_improvement_pct: Decimal = ZERO
    stop_loss_pct: Decimal | None = None

    def add_size(self, i: int) -> Decimal:
        """Quote size of add i (1-based): add · vs^(i−1)."""
        return self.add_order_quote * self.volume_scale ** (i - 1)

    def add_deviation_pct(self, i: int) -> Decimal:
        """Distance of add i (1-based) from the base fill (below a long's, above a short's),
        percent: step · Σ_{k<i} ss^k."""
        return self.step_pct * sum((self.step_scale**k for k in range(i)), ZERO)

    @property
    def max_funds(self) -> Decimal:
        """Quote one group may commit: base + Σ add sizes."""
        return self.base_order_quote + sum(
            (self.add_size(i) for i in range(1, self.max_adds + 1)), ZERO
        )


@dataclass(frozen=True, slots=True)
class DcaParams:
    """Everything the engine needs from the strategy; `margin_limit` is a hard cap, always live."""

    pairs: tuple[str, ...]
    margin_limit: Decimal
    max_active_groups: int
    sizing: GroupSizing
    recovery: RecoveryParams = RecoveryParams()
    side: Side = Side.LONG
    on_stop: OnStop = OnStop.KEEP_TAKE_PROFIT
    #: the base order is a marketable limit this far above the ask (below the bid for a short;
    #: its amount is sized at that price, so the order never reserves more than base_order_quote).
    entry_slippage_pct: Decimal = Decimal("0.5")

    def __post_init__(self) -> None:
        if self.max_active_groups < 1:
            raise ValueError("max_active_groups must be at least 1")
        if self.margin_limit < 0:
            raise ValueError("margin_limit must not be negative")

    @property
    def group_budget(self) -> Decimal:
        """The margin share of one group: margin_limit / max_active_groups."""
        return self.margin_limit / self.max_active_groups

    @classmethod
    def from_sizing(
        cls,
        sizing: Sizing,
        *,
        pairs: tuple[str, ...],
        margin_limit: float,
        stop_loss_pct: float | None = None,
        recovery: RecoveryParams | None = None,
        on_stop: OnStop = OnStop.KEEP_TAKE_PROFIT,
        side: Side = Side.LONG,
        entry_slippage_pct: float = 0.5,
    ) -> DcaParams:
        """From `configuration.models.Strategy.sizing()` and the strategy's other fields."""
        max_adds = sizing.max_adds if sizing.adding_enabled else 0
        return cls(
            pairs=pairs,
            margin_limit=dec(margin_limit),
            max_active_groups=sizing.max_active_groups,
            sizing=GroupSizing(
                base_order_quote=dec(sizing.base_order_quote),
                add_order_quote=dec(sizing.add_order_quote),
                max_adds=max_adds,
                max_active_adds=max(1, min(sizing.max_active_adds, max(max_adds, 1))),
                step_pct=dec(sizing.step_pct),
                step_scale=dec(sizing.step_scale),
                volume_scale=dec(sizing.volume_scale),
                take_profit_pct=dec(sizing.take_profit_pct),
                min_avg_improvement_pct=dec(sizing.min_avg_improvement_pct),
                stop_loss_pct=None if stop_loss_pct is None else dec(stop_loss_pct),
            ),
            recovery=recovery if recovery is not None else RecoveryParams(),
            side=side,
            on_stop=on_stop,
            entry_slippage_pct=dec(entry_slippage_pct),
        )


__all__ = [
    "HUNDRED",
    "ZERO",
    "AddsAllowed",
    "DcaParams",
    "Gate",
    "GroupSizing",
    "MarketRules",
    "OnStop",
    "Quote",
    "RecoveryParams",
    "Side",
    "dec",
]
