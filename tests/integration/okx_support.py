"""The OKX venue for tests/integration/test_okx_*.py: OKX-shaped keys (UUID-like ids) with their
passphrase, and OKX's scope names, on venue_support's VenueServer. A key's account mode is
SandboxKey's `acct_lv`, as in a sandbox keys file.
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

from tests.integration.venue_support import Credentials, VenueServer

CANARY = "CANARY-okx-secret"
PASS_CANARY = "CANARY-okx-pass"
FULL: tuple[str, ...] = ("read_only", "trade")


class OkxVenue(VenueServer):
    exchange = "okx"
    label = "OKX Spot"
    canaries: ClassVar[tuple[str, ...]] = (CANARY, PASS_CANARY)
    full = FULL

    def api_urls(self) -> dict[str, Any]:
        return {"rest": self.url}

    def credentials(self, n: int) -> Credentials:
        d = hashlib.sha256(f"okx-key-{n}".encode()).hexdigest()
        return {
            "api_key": f"{d[:8]}-{d[8:12]}-{d[12:16]}-{d[16:20]}-{d[20:32]}",
            "api_secret": f"{CANARY}-{n:06d}",
            "passphrase": f"{PASS_CANARY}-{n:06d}",
        }
