"""The bots' own vocabulary: a bot's lifecycle state, its status, and the command that moves it.

Owned by bots/ (the store persists `BotStatus`, the lifecycle applies `BotCommand`s); the reconciler
emits the commands, telemetry and `backfuture plan` read the statuses. A leaf of the bots layer:
imports nothing from the package.
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


class Gate(StrEnum):
    """What a bot may do, as the reconciler commands it; each gate leads to one `BotState`.

    A close-only gate (degraded key: manage open groups, open none) arrives with the order path,
    together with its own state; until then a healthy or degraded connection means RUN.
    """

    RUN = "run"
    PAUSE = "pause"
    STOP = "stop"

    @property
    def state(self) -> BotState:
        return _STATE_OF[self]


_STATE_OF = {Gate.RUN: BotState.RUNNING, Gate.PAUSE: BotState.PAUSED, Gate.STOP: BotState.STOPPED}


@dataclass(frozen=True, slots=True)
class BotCommand:
    """The reconciler's order to one bot: move to `gate` for `reason`.

    `pending`: paused only because its connection has not been tested in this process yet (a new
    bot, or one restored as running after a restart); it starts once the test passes. `mode` and
    `market` of a STOP command are ignored: a stopped bot keeps what it was.
    """

    strategy: str
    connection: str
    gate: Gate
    reason: str
    mode: str = "paper"
    market: str = "spot"
    pending: bool = False
