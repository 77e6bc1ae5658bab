"""Bot gating: the running / paused / stopped lifecycle of every bot, with a reason.

The reconcile loop hands it the planner's StartBot / PauseBot / StopBot actions; each accepted
change is persisted (bots/store.py) before it is reported, so a restart finds the same state.
What a running bot trades is the bot runner's business; this module only says whether it may.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from backfuture_daemon.bots.model import BotState, BotStatus
from backfuture_daemon.bots.store import BotStore
from backfuture_daemon.reconciler.plan import PauseBot, StartBot, StopBot

BotAction = StartBot | PauseBot | StopBot


@dataclass(frozen=True, slots=True)
class Transition:
    bot: BotStatus
    previous: BotState | None

    @property
    def changed_state(self) -> bool:
        return self.previous is not self.bot.state


def transition(current: BotStatus | None, action: BotAction, now: float) -> BotStatus:
    """The bot after `action`. `since` moves only when the state itself changes; the state and
    reason it leaves are kept as `previous_*`."""
    if isinstance(action, StartBot):
        state, mode, market = BotState.RUNNING, action.mode, action.market
    elif isinstance(action, PauseBot):
        state, mode, market = BotState.PAUSED, action.mode, action.market
    else:
        state = BotState.STOPPED
        mode = current.mode if current else "paper"
        market = current.market if current else "spot"
    since = current.since if current is not None and current.state is state else now
    previous_state, previous_reason = (
        (current.previous_state, current.previous_reason) if current else (None, "")
    )
    if current is not None and (current.state, current.reason) != (state, action.reason):
        previous_state, previous_reason = current.state, current.reason
    return BotStatus(
        strategy=action.strategy,
        connection=action.connection,
        state=state,
        reason=action.reason,
        since=since,
        mode=mode,
        market=market,
        previous_state=previous_state,
        previous_reason=previous_reason,
    )


class BotLifecycle:
    """Holds every known bot (stopped ones too, until their strategy comes back)."""

    def __init__(self, store: BotStore | None, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock
        self._bots: dict[str, BotStatus] = store.load_bots() if store else {}

    @property
    def bots(self) -> Mapping[str, BotStatus]:
        return self._bots

    def apply(self, action: BotAction) -> Transition | None:
        """Apply one action; None when it changes nothing (the planner is idempotent anyway)."""
        current = self._bots.get(action.strategy)
        now = self._clock()
        new = transition(current, action, now)
        if current == new:
            return None
        if self._store is not None:
            self._store.save(new, current.state if current else None, now)
        self._bots[action.strategy] = new
        return Transition(new, current.state if current else None)
