"""DCA sizing: add sizes and distances, funds per group, and the margin budget they must fit.

The one place the series formula lives (reference/bots.md §2.4): add i is sized
`add · vs^(i−1)` at `step · Σ_{k<i} ss^k` below the entry; a group with n adds needs at most
`base + add·(vs^n − 1)/(vs − 1)`. `resolve_sizing` fills unset fields from the risk preset, then
derives unset order sizes from the margin limit so that the margin check holds exactly. Called by
configuration (the margin rule, `Strategy.sizing()`) and by the engine.
"""

from __future__ import annotations

from dataclasses import dataclass

from backfuture_daemon.strategy.presets import PRESETS


def series_sum(volume_scale: float, n: int) -> float:
    """Σ_{k<n} vs^k = (vs^n − 1)/(vs − 1), or n when vs == 1: the adds' total in first-add units."""
    if n <= 0:
        return 0.0
    if abs(volume_scale - 1.0) < 1e-12:
        return float(n)
    return (volume_scale**n - 1.0) / (volume_scale - 1.0)


@dataclass(frozen=True, slots=True)
class Sizing:
    """Every sizing field resolved (explicit value, else preset, else derived from margin_limit)."""

    max_active_groups: int
    base_order_quote: float
    add_order_quote: float
    max_adds: int
    max_active_adds: int
    step_pct: float
    step_scale: float
    volume_scale: float
    take_profit_pct: float
    min_avg_improvement_pct: float
    adding_enabled: bool

    @property
    def group_multiplier_of_add(self) -> float:
        """Sum of add sizes in units of the first add."""
        return series_sum(self.volume_scale, self.max_adds if self.adding_enabled else 0)

    @property
    def max_group_funds(self) -> float:
        return self.base_order_quote + self.add_order_quote * self.group_multiplier_of_add

    @property
    def max_total_funds(self) -> float:
        """reference/bots.md §2.4: max_active_groups × max_group_funds must be ≤ margin_limit."""
        return self.max_active_groups * self.max_group_funds

    def add_size(self, i: int) -> float:
        """Size in quote of add number i (1-based)."""
        return self.add_order_quote * self.volume_scale ** (i - 1)

    def add_distance_pct(self, i: int) -> float:
        """Cumulative distance of add i (1-based) from the entry price, in percent."""
        return self.step_pct * series_sum(self.step_scale, i)


@dataclass(frozen=True, slots=True)
class SizingInput:
    """What a strategy states explicitly (None: take the preset or derive it)."""

    risk_level: str
    margin_limit: float
    max_active_groups: int | None = None
    base_order_quote: float | None = None
    add_order_quote: float | None = None
    adding_enabled: bool = True
    max_adds: int | None = None
    max_active_adds: int | None = None
    step_pct: float | None = None
    step_scale: float | None = None
    volume_scale: float | None = None
    take_profit_pct: float | None = None
    min_avg_improvement_pct: float | None = None


def resolve_sizing(s: SizingInput) -> Sizing:
    p = PRESETS[s.risk_level]
    groups = s.max_active_groups or p.max_active_groups
    max_adds = s.max_adds if s.max_adds is not None else p.max_adds
    vs = s.volume_scale or p.volume_scale
    enabled = s.adding_enabled and max_adds > 0
    mult = series_sum(vs, max_adds) if enabled else 0.0
    base, add = s.base_order_quote, s.add_order_quote
    if base is None or add is None:
        # Fill the unset sizes so that the margin check holds exactly: whatever is left of the
        # margin limit after the explicit sizes is shared by base and adds (add = base).
        budget = s.margin_limit / groups
        if base is None and add is None:
            base = add = _floor_cents(budget / (1 + mult))
        elif base is None:
            assert add is not None
            base = _floor_cents(max(budget - add * mult, 0.0)) or 0.01
        else:
            add = _floor_cents(max(budget - base, 0.0) / mult) if mult else base
            add = add or 0.01
    return Sizing(
        max_active_groups=groups,
        base_order_quote=base,
        add_order_quote=add,
        max_adds=max_adds,
        max_active_adds=min(s.max_active_adds or 2, max(max_adds, 1)),
        step_pct=s.step_pct or p.step_pct,
        step_scale=s.step_scale or p.step_scale,
        volume_scale=vs,
        take_profit_pct=s.take_profit_pct or p.take_profit_pct,
        min_avg_improvement_pct=(
            s.min_avg_improvement_pct
            if s.min_avg_improvement_pct is not None
            else p.min_avg_improvement_pct
        ),
        adding_enabled=enabled,
    )


def _floor_cents(x: float) -> float:
    return int(x * 100) / 100.0
