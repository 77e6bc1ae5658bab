"""Paper bots seen from outside: a strategy document for a small DCA ladder, the sandbox market
moved over its admin route, and a bot's book read back from a running daemon's /status and
/metrics.

Used by tests/e2e/test_paper_bots_daemon.py and benchmarks/bots.py. Everything goes over real
HTTP to real processes (or to an embedded daemon's HTTP endpoint).
"""

from __future__ import annotations

from typing import Any

from tests.helpers.processes import http

PAIR = "BTC/USDT"

#: The ladder of tests/integration/test_paper_bot_sandbox.py, in GitOps form. From a base fill
#: near 100: add 1 rests near 98.5, add 2 near 96.7, add 3 near 94.5; two adds used of three
#: (0.67 >= adds_used_ratio 0.6) put the group into Recovery Mode, whose take profit sits 0.4 %
#: above the average (about 97.8 after both adds).
LADDER: dict[str, Any] = {
    "margin_limit": 100,
    "max_active_groups": 1,
    "base_order_quote": 10,
    "take_profit_pct": 1.2,
    "adding": {
        "max_adds": 3,
        "max_active_adds": 2,
        "add_order_quote": 10,
        "step_pct": 1.5,
        "step_scale": 1.2,
        "volume_scale": 1.5,
        "min_avg_improvement_pct": 0.3,
    },
    "recovery_mode": {"enabled": True, "adds_used_ratio": 0.6, "take_profit_pct": 0.4},
}


def paper_strategy(name: str, connection: str, pairs: list[str] | None = None) -> dict[str, Any]:
    """A `mode: paper` strategy with the LADDER sizing on `pairs` (default BTC/USDT)."""
    return {
        "name": name,
        "connection": connection,
        "mode": "paper",
        "pairs": pairs or [PAIR],
        **LADDER,
    }


def set_market(venue_url: str, symbol: str = PAIR, **body: Any) -> Any:
    """`POST /__sandbox/market`: price=P (hold), path=[[s, p], ...] (move, then hold) or
    resume=True (back to the seeded walk)."""
    return http(f"{venue_url}/__sandbox/market", "POST", {"symbol": symbol, **body})


def market_price(venue_url: str, symbol: str = PAIR) -> float:
    state = http(f"{venue_url}/__sandbox/market?symbol={symbol}")
    return float(state["price"])


def bot(status: dict[str, Any], strategy: str) -> dict[str, Any] | None:
    """The /status entry of one bot (lifecycle joined with its book), None if not listed."""
    return next((b for b in status.get("bots", []) if b["strategy"] == strategy), None)


def groups(status: dict[str, Any], strategy: str) -> list[dict[str, Any]]:
    entry = bot(status, strategy)
    return list(entry.get("groups", [])) if entry else []


def order_count(entry: dict[str, Any], side: str | None = None, result: str | None = None) -> int:
    """Sum of the bot's /status order counts matching side and result (None: any)."""
    return sum(
        int(o["count"])
        for o in entry.get("orders", [])
        if (side is None or o["side"] == side) and (result is None or o["result"] == result)
    )


def metric_value(text: str, name: str, **labels: str) -> float | None:
    """The value of the first sample of `name` whose labels include `labels`."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        if head.split("{", 1)[0] != name:
            continue
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            return float(value)
    return None
