"""Bot gating: the running / paused / stopped lifecycle of every bot, with a reason.

The reconcile loop hands it the planner's `BotCommand`s (bots/model.py); each accepted change is
persisted (bots/store.py) before it is reported, so a restart finds the same state. What a running
bot trades is the bot runner's business; this module only says whether it may.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from backfuture_daemon.bots.model import BotCommand, BotState, BotStatus, Gate


class LifecycleStore(Protocol):
    """Where accepted changes are persisted (bots/store.py BotStore); a Protocol, so this module
    stays pure (no sqlite3 import) and tests may run without a store."""

    def load_bots(self) -> dict[str, BotStatus]: ...

    def save(self, bot: BotStatus, previous: BotState | None, at: float) -> None: ...


@dataclass(frozen=True, slots=True)
class Transition:
    bot: BotStatus
    previous: BotState | None

    @property
    def changed_state(self) -> bool:
        return self.previous is not self.bot.state


def transition(current: BotStatus | None, command: BotCommand, now: float) -> BotStatus:
    """The bot after `command`. `since` moves only when the state itself changes; the state and
    reason it leaves are kept as `previous_*`."""
    state, mode, market = command.gate.state, command.mode, command.market
    if command.gate is Gate.STOP:
        mode = current.mode if current else "paper"
        market = current.market if current else "spot"
    since = current.since if current is not None and current.state is state else now
    previous_state, previous_reason = (
        (current.previous_state, current.previous_reason) if current else (None, "")
    )
    if current is not None and (current.state, current.reason) != (state, command.reason):
        previous_state, previous_reason = current.state, current.reason
    return BotStatus(
        strategy=command.strategy,
        connection=command.connection,
        state=state,
        reason=command.reason,
        since=since,
        mode=mode,
        market=market,
        previous_state=previous_state,
        previous_reason=previous_reason,
    )


class BotLifecycle:
    """Holds every known bot (stopped ones too, until their strategy comes back)."""

    def __init__(self, store: LifecycleStore | None, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock
        self._bots: dict[str, BotStatus] = store.load_bots() if store else {}

    @property
    def bots(self) -> Mapping[str, BotStatus]:
        return self._bots

    def apply(self, command: BotCommand) -> Transition | None:
        """Apply one command; None when it changes nothing (the planner is idempotent anyway)."""
        current = self._bots.get(command.strategy)
        now = self._clock()
        new = transition(current, command, now)
        if current == new:
            return None
        if self._store is not None:
            self._store.save(new, current.state if current else None, now)
        self._bots[command.strategy] = new
        return Transition(new, current.state if current else None)
