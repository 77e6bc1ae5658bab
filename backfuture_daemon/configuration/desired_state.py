"""One validated config revision as the daemon runs it (`DesiredState`), built by
configuration/loading.py from the documents' models (configuration/models.py) and read by the
reconciler, the daemon and the commands.
"""

from __future__ import annotations

from dataclasses import dataclass

from backfuture_daemon.configuration.identity import Revision
from backfuture_daemon.configuration.models import Connection, Policy, Strategy


@dataclass(frozen=True)
class DesiredState:
    """One validated config revision: what the daemon should run. Built by loading.load_revision.

    `revision` (configuration/identity.py) names it; `Revision` stays importable from here."""

    revision: Revision
    policy: Policy
    connections: tuple[Connection, ...]
    strategies: tuple[Strategy, ...]
    #: "connections/<name>" or "strategies/<name>" -> "FILE: connections[i]", for messages.
    sources: dict[str, str]
    #: YAML files in the directory that are not config documents (see loading.py), for `validate`.
    skipped: tuple[str, ...] = ()

    def connection(self, name: str) -> Connection:
        for c in self.connections:
            if c.name == name:
                return c
        raise KeyError(name)

    def strategies_for(self, connection: str) -> tuple[Strategy, ...]:
        return tuple(s for s in self.strategies if s.connection == connection)

    def secret_values(self) -> tuple[str, ...]:
        return tuple(v for c in self.connections for v in c.secret_values())
