"""Risk presets: what `risk_level` fills into every sizing field a strategy leaves unset.

reference/bots.md §2.4: conservative = lower volume scale, more adds; aggressive the opposite.
Read by `strategy.sizing.resolve_sizing`; keyed by the risk level's name.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Preset:
    max_active_groups: int
    max_adds: int
    step_pct: float
    step_scale: float
    volume_scale: float
    take_profit_pct: float
    min_avg_improvement_pct: float


PRESETS: dict[str, Preset] = {
    "conservative": Preset(1, 6, 2.0, 1.2, 1.3, 1.0, 0.3),
    "balanced": Preset(2, 5, 1.5, 1.2, 1.5, 1.2, 0.3),
    "aggressive": Preset(3, 4, 1.0, 1.1, 2.0, 1.5, 0.2),
}
