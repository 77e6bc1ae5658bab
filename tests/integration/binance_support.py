"""The Binance venue for tests/integration/test_binance_*.py: Binance-shaped keys (64 hex
characters) and permission names on venue_support's VenueServer.
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

from tests.integration.venue_support import Credentials, VenueServer

CANARY = "CANARY-binance-secret"
FULL: tuple[str, ...] = ("enableReading", "enableSpotAndMarginTrading")


class BinanceVenue(VenueServer):
    exchange = "binance"
    label = "Binance Spot"
    canaries: ClassVar[tuple[str, ...]] = (CANARY,)
    full = FULL

    def api_urls(self) -> dict[str, Any]:
        api = f"{self.url}/api/v3"
        return {"public": api, "private": api, "sapi": f"{self.url}/sapi/v1"}

    def credentials(self, n: int) -> Credentials:
        return {
            "api_key": hashlib.sha256(f"bn-key-{n}".encode()).hexdigest(),
            "api_secret": f"{CANARY}-{n:06d}",
        }
