"""The Bybit venue for tests/integration/test_bybit_*.py: Bybit-shaped keys (18 alphanumerics)
and `Group.Permission` names on venue_support's VenueServer.
"""

from __future__ import annotations

from typing import Any, ClassVar

from backfuture_daemon.configuration.models import Endpoints
from backfuture_daemon.exchanges.bybit import client_spec
from tests.integration.venue_support import Credentials, VenueServer

CANARY = "CANARY-bybit-secret"
FULL: tuple[str, ...] = ("Spot.SpotTrade",)
FUTURES: tuple[str, ...] = ("ContractTrade.Order", "ContractTrade.Position")


class BybitVenue(VenueServer):
    exchange = "bybit"
    label = "Bybit"
    canaries: ClassVar[tuple[str, ...]] = (CANARY,)
    full = FULL

    def api_urls(self) -> dict[str, Any]:
        return client_spec(Endpoints(spot=self.url)).urls

    def credentials(self, n: int) -> Credentials:
        return {"api_key": f"BYBITk{n:06d}SBXkey", "api_secret": f"{CANARY}-{n:06d}-0123456789"}
