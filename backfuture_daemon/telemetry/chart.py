"""A small inline SVG chart of one bot group: price against base entry, adds, average, take profit.

Pure; called by telemetry/page.py with one group of the `/status` document. Lines for the base
entry, each add level, the average entry and the take profit; the recent price as a polyline when
the group carries `price_history`, else the last price as a dot. Marked when in Recovery Mode.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

WIDTH, HEIGHT, PAD = 360, 120, 6


def group_chart(g: Mapping[str, Any]) -> str:
    levels: list[tuple[str, float, str]] = []
    for key, label, colour in (
        ("base_price", "base", "#667"),
        ("average_price", "average", "#3c7be0"),
        ("take_profit_price", "take profit", "#1b8a3a"),
    ):
        value = number(g.get(key))
        if value is not None and value > 0:
            levels.append((label, value, colour))
    for i, price in enumerate(_floats(g.get("add_prices")), start=1):
        levels.append((f"add {i}", price, "#c9a227"))
    history = _floats(g.get("price_history"))
    last = number(g.get("last_price"))
    if not history and last is not None and last > 0:
        history = [last]
    values = [v for _, v, _ in levels] + history
    if not values:
        return ""
    lo, hi = min(values), max(values)
    span = (hi - lo) or max(hi * 0.01, 1e-9)
    lo, hi = lo - span * 0.05, hi + span * 0.05

    def y(v: float) -> float:
        return PAD + (hi - v) / (hi - lo) * (HEIGHT - 2 * PAD)

    recovery = g.get("mode") == "recovery"
    out = [
        f'<svg class="group-chart" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(str(g.get("pair", "")))} price chart">'
    ]
    if recovery:
        out.append(f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff4e5"/>')
    for label, value, colour in levels:
        dash = ' stroke-dasharray="4 3"' if label.startswith("add") else ""
        out.append(
            f'<line x1="0" x2="{WIDTH}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            f'stroke="{colour}"{dash}><title>{escape(label)} {value:g}</title></line>'
            f'<text x="{WIDTH - 4}" y="{y(value) - 2:.1f}" font-size="9" text-anchor="end" '
            f'fill="{colour}">{escape(label)}</text>'
        )
    if len(history) > 1:
        step = (WIDTH - 2 * PAD) / (len(history) - 1)
        points = " ".join(f"{PAD + i * step:.1f},{y(v):.1f}" for i, v in enumerate(history))
        out.append(f'<polyline points="{points}" fill="none" stroke="#1d2430"/>')
    elif history:
        out.append(f'<circle cx="{WIDTH - 40}" cy="{y(history[0]):.1f}" r="3" fill="#1d2430"/>')
    if recovery:
        out.append('<text x="4" y="12" font-size="10" fill="#a14a00">RECOVERY MODE</text>')
    out.append("</svg>")
    return "".join(out)


def number(value: object) -> float | None:
    """Prices and money arrive as exact decimal strings (or numbers); None when absent or not a
    finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        out = float(value)
    except ValueError:
        return None
    return out if out == out and abs(out) != float("inf") else None


def _floats(value: object) -> list[float]:
    if not isinstance(value, list | tuple):
        return []
    numbers = (number(v) for v in value)
    return [v for v in numbers if v is not None and v > 0]
