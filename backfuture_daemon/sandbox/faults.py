"""Fault injection knobs of one sandbox exchange (MEXC; KuCoin spot + futures), and its clock.

Tests flip them through `Sandbox.faults(exchange)`; operators through `POST /__sandbox/faults`.
The venue middleware (server.py) reads them on every request, so a change applies to the next one.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

_YEAR_MS = 365 * 86_400_000
#: Accepted range of each numeric knob: wide enough for any test, narrow enough that no value
#: overflows a timer or a clock (an hour of latency already outlasts every client timeout).
_RANGES: dict[str, tuple[int, int]] = {
    "latency_ms": (0, 3_600_000),
    "hang_seconds": (0, 3_600),
    "rate_limit_per_s": (0, 1_000_000),
    "retry_after_s": (0, 86_400),
    "clock_offset_ms": (-10 * _YEAR_MS, 10 * _YEAR_MS),
}


@dataclass(slots=True)
class Faults:
    """Per-exchange faults. Everything off except MEXC's real futures-order ban."""

    latency_ms: int = 0  #: added before every API response
    timeout: bool = False  #: hang each request (longer than any client timeout)
    hang_seconds: float = 120.0  #: how long a `timeout` hang lasts (ended early by stop())
    http_5xx: int = 0  #: 0 off; otherwise the 5xx status every API request answers with
    rate_limit: bool = False  #: answer 429 with Retry-After
    rate_limit_per_s: int = 0  #: 0 off; else requests per second per port before 429s
    retry_after_s: int = 2  #: Retry-After seconds sent with the 429
    maintenance: bool = False  #: exchange-specific maintenance answers
    clock_offset_ms: int = 0  #: server clock = real clock + offset (stale client timestamps)
    mexc_futures_orders_disabled: bool = True  #: MEXC contract orders -> code 1002 (real)
    accept_then_timeout: bool = False  #: orders are accepted, then the answer hangs
    drop_cancel_answer: bool = False  #: cancels are carried out, then the answer hangs
    #: 0 off; else the 5xx status every order placement answers with, the order NOT placed
    #: (its request reached the gateway; every other request is served as usual)
    placement_5xx: int = 0

    def now_ms(self) -> int:
        """The venue's clock in epoch milliseconds (served by /time endpoints, used for windows)."""
        return int(time.time() * 1000) + self.clock_offset_ms

    def update(self, changes: Mapping[str, Any]) -> None:
        """Validate then apply; unknown fields or wrong types raise ValueError naming the field."""
        known = {f.name: f for f in fields(self)}
        staged: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(known))}")
            current = getattr(self, name)
            if isinstance(current, bool):
                if not isinstance(value, bool):
                    raise ValueError(f"fault {name}: must be true or false")
            elif name in ("http_5xx", "placement_5xx"):
                if value is True:
                    value = 503
                elif value is False or value is None:
                    value = 0
                if not isinstance(value, int) or not (value == 0 or 500 <= value <= 599):
                    raise ValueError(f"fault {name}: must be 0 (off) or a status 500..599")
            elif isinstance(current, int | float):
                low, high = _RANGES[name]
                if (
                    isinstance(value, bool)
                    or not isinstance(value, int | float)
                    or not low <= value <= high  # also refuses NaN
                ):
                    raise ValueError(f"fault {name}: must be a number from {low} to {high}")
                value = type(current)(value)
            staged[name] = value
        for name, value in staged.items():
            setattr(self, name, value)

    def reset(self) -> None:
        self.update({f.name: f.default for f in fields(self)})

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
