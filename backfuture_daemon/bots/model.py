"""The bots' own vocabulary: a bot's lifecycle state and its status as the daemon shows it.

Owned by bots/ (the store persists it, the lifecycle changes it); the reconciler, telemetry and
`backfuture plan` read it. A leaf of the bots layer: imports nothing from the package.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class BotState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"  # connection unhealthy, strategy suspended, or daemon shutting down
    STOPPED = "stopped"  # strategy removed from git


@dataclass(frozen=True, slots=True)
class BotStatus:
    strategy: str
    connection: str
    state: BotState
    reason: str
    since: float
    mode: str = "paper"
    market: str = "spot"
    #: State and reason before the last change (None: unchanged since loaded or created), so a
    #: bot restored as running and paused until its first test still shows what it was.
    previous_state: BotState | None = None
    previous_reason: str = ""

    @property
    def enabled(self) -> bool:
        return self.state is BotState.RUNNING
