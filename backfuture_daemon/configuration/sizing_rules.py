"""The sizing rules of one strategy: the margin check (groups × (base + adds) ≤ margin_limit) and
the adding settings that cannot work as written (an add at or past 0 on spot, past 80 % of the
liquidation distance on futures — below a long's entry, above a short's — a stop loss inside the
adding range, a short's take profit at 100 %).

Called by configuration/rules.py (`check_revision`) for every strategy; `explain_sizing` is also
shown by `backfuture validate`.
"""

from __future__ import annotations

from backfuture_daemon.configuration.models import Market, Strategy
from backfuture_daemon.strategy.sizing import Sizing

#: Floating-point slack when comparing money: far below a cent, far above float rounding.
_EPSILON = 1e-9


def _fmt(x: float) -> str:
    return f"{x:,.2f}".replace(",", "") if abs(x) >= 0.01 or x == 0 else f"{x:.8f}".rstrip("0")


def explain_sizing(s: Strategy, z: Sizing) -> str:
    """The margin check in numbers: groups × (base + adds) = total vs margin_limit."""
    q = s.quote
    if z.adding_enabled and z.max_adds:
        vs = z.volume_scale
        adds = (
            f"{z.max_adds} adds of {_fmt(z.add_order_quote)}×{vs:g}^k, k=0..{z.max_adds - 1},"
            f" = {_fmt(z.add_order_quote * z.group_multiplier_of_add)}"
        )
    else:
        adds = "no adds"
    return (
        f"{z.max_active_groups} group(s) × (base {_fmt(z.base_order_quote)} + {adds})"
        f" = {_fmt(z.max_total_funds)} {q}"
    )


def check_margin(s: Strategy, z: Sizing) -> str | None:
    """The margin-limit check (reference/bots.md §2.4); a message when it fails."""
    if z.max_total_funds <= s.margin_limit * (1 + _EPSILON):
        return None
    return (
        f"max funds {explain_sizing(s, z)} exceed margin_limit {_fmt(s.margin_limit)} "
        f"{s.quote}; lower max_active_groups, base_order_quote, adding.add_order_quote, "
        "adding.max_adds or adding.volume_scale, or raise margin_limit"
    )


def check_sizing(s: Strategy, z: Sizing) -> list[tuple[str, str]]:
    """(field, message) for adding/recovery settings that cannot work as written."""
    out: list[tuple[str, str]] = []
    if z.base_order_quote <= 0 or (z.adding_enabled and z.add_order_quote <= 0):
        out.append(
            (
                "margin_limit",
                f"margin_limit {_fmt(s.margin_limit)} is too small for "
                f"{z.max_active_groups} group(s) with {z.max_adds} adds: orders would round to 0",
            )
        )
    explicit_active = s.adding.max_active_adds
    if z.adding_enabled and explicit_active is not None and explicit_active > z.max_adds:
        out.append(
            (
                "adding.max_active_adds",
                f"max_active_adds ({explicit_active}) exceeds max_adds ({z.max_adds}, from "
                f"{'adding.max_adds' if s.adding.max_adds is not None else s.risk_level.value}"
                " preset)",
            )
        )
    if z.adding_enabled and z.max_adds:
        last = z.add_distance_pct(z.max_adds)
        if s.market is Market.SPOT and last >= 100:
            out.append(
                (
                    "adding",
                    f"the last add would sit {last:.1f}% below the entry (step_pct {z.step_pct:g}"
                    f" × step_scale {z.step_scale:g} over {z.max_adds} adds); it must be < 100% "
                    "on spot: lower max_adds, step_pct or step_scale",
                )
            )
        if s.market is Market.FUTURES:
            # Liquidation sits ~100/leverage % away (below a long's entry, above a short's);
            # keep a 20 % buffer (bots.md §2.4 rule 4).
            limit = 100.0 / s.leverage * 0.8
            where = "above the entry" if s.side == "short" else "from the entry"
            if last >= limit:
                out.append(
                    (
                        "adding",
                        f"the last add would sit {last:.1f}% {where}, beyond {limit:.1f}% "
                        f"(80% of the liquidation distance at leverage {s.leverage}); lower "
                        "leverage, max_adds, step_pct or step_scale",
                    )
                )
    if s.stop_loss_pct is not None and z.adding_enabled and z.max_adds:
        last = z.add_distance_pct(z.max_adds)
        if s.stop_loss_pct <= last:
            out.append(
                (
                    "stop_loss_pct",
                    f"stop_loss_pct {s.stop_loss_pct:g}% is within the adding range (last add at "
                    f"{last:.1f}%): later adds could never fill; set it beyond the last add",
                )
            )
    if s.side == "short" and z.take_profit_pct >= 100:
        out.append(
            (
                "take_profit_pct",
                f"take_profit_pct {z.take_profit_pct:g}% on a short would buy back at or below 0; "
                "it must be < 100%",
            )
        )
    return out
