"""The desired side of the planner: the last good revision plus what is derived from it.

Built once per applied revision by the config tracker (reconciler/config_tracker.py) and by
`backfuture plan` (commands/plan.py) with the running daemon's salt, so both compare keys the same
way. Pure: salted fingerprints and test-input digests (reconciler/fingerprint.py), no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from backfuture_daemon.configuration.desired_state import DesiredState
from backfuture_daemon.reconciler.fingerprint import check_inputs_digest, connection_fingerprint


@dataclass(frozen=True, slots=True)
class Desired:
    """The last good revision plus its salted fingerprints; `state` None: no valid config yet."""

    state: DesiredState | None
    fingerprints: Mapping[str, str] = field(default_factory=dict)  # connection -> fingerprint
    inputs: Mapping[str, str] = field(default_factory=dict)  # connection -> test inputs digest

    @classmethod
    def from_state(cls, state: DesiredState, salt: str) -> Desired:
        return cls(
            state,
            fingerprints={c.name: connection_fingerprint(c, salt) for c in state.connections},
            inputs={
                c.name: check_inputs_digest(state.policy, state.strategies_for(c.name))
                for c in state.connections
            },
        )
