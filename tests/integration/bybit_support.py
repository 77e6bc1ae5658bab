"""The Bybit venue for tests/integration/test_bybit_*.py: Bybit-shaped keys (18 alphanumerics)
and `Group.Permission` names on venue_support's VenueServer; `isolate()` sets a key's unified
account to isolated margin (what a Bybit futures bot needs) through its own ccxt client.
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


async def isolate(client: Any, mode: str = "ISOLATED_MARGIN") -> None:
    """Set a Bybit unified account's margin mode (`POST /v5/account/set-margin-mode`) through a
    ccxt client of the key, as its owner does once on Bybit before a futures bot trades."""
    await client.privatePostV5AccountSetMarginMode({"setMarginMode": mode})
