"""Faults that hit live trading where it hurts: an order request the exchange ACCEPTS but whose
answer never arrives (`accept_then_timeout`), a cancel that is carried out but whose answer
is lost (`drop_cancel_answer`), and an order request that reaches the gateway, is NOT placed and
answers a 5xx (`placement_5xx`). A bot must then look its order up by client order id.

The middleware in server.py asks `refused(...)` before the handler runs and `withheld(...)`
after it; the knobs live on faults.Faults (so `POST /__sandbox/faults` sets them); a withheld
answer hangs like the `timeout` fault.
"""

from __future__ import annotations

import json

from aiohttp import web

from backfuture_daemon.sandbox.faults import Faults

#: (method, route) of every order placement on the venues; `.../test` routes excluded.
PLACEMENTS: frozenset[tuple[str, str]] = frozenset(
    {
        ("POST", "/api/v3/order"),  # MEXC spot
        ("POST", "/api/v1/private/order/create"),  # MEXC contract
        ("POST", "/api/v1/private/order/submit"),
        ("POST", "/api/v1/orders"),  # KuCoin classic spot and futures
        ("POST", "/api/v1/hf/orders"),  # KuCoin HF
        ("POST", "/api/v5/trade/order"),  # OKX (ccxt's createOrder sends batch-orders)
        ("POST", "/api/v5/trade/batch-orders"),
        ("POST", "/v5/order/create"),  # Bybit v5
        ("POST", "/fapi/v1/order"),  # Binance USDⓈ-M
    }
)
_CONTRACT_CANCEL = ("POST", "/api/v1/private/order/cancel")
#: Cancels sent as POST (OKX v5).
_POST_CANCELS = frozenset(
    {("POST", "/api/v5/trade/cancel-order"), ("POST", "/api/v5/trade/cancel-batch-orders")}
) | {("POST", "/v5/order/cancel")}  # Bybit v5


def is_cancel(method: str, route: str) -> bool:
    """DELETE on any order route (one order, by client id, or all), MEXC's contract cancel, or
    OKX's cancel-order."""
    return (
        (method == "DELETE" and "order" in route.lower())
        or (method, route) == _CONTRACT_CANCEL
        or (method, route) in _POST_CANCELS
    )


def _accepted(response: web.StreamResponse) -> bool:
    """Did the exchange say yes? HTTP 200 and no failure in the envelope (KuCoin answers some
    refusals with 200 and a code; MEXC contract with `success: false`)."""
    if response.status != 200 or not isinstance(response, web.Response):
        return False
    try:
        body = json.loads(response.body or b"{}")  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    if not isinstance(body, dict):
        return True
    # OKX: "code":"0" all done ("1" none, "2" some: a batch of ours holds one order)
    return (
        body.get("success", True) is not False
        and body.get("code", 0) in (0, 200, "200000", "0")
        and body.get("retCode", 0) == 0  # Bybit: refusals are HTTP 200 with a retCode
    )


def refused(faults: Faults, method: str, route: str) -> web.Response | None:
    """The gateway's 5xx page for an order placement while `placement_5xx` is on (the handler
    never runs, so nothing is placed); None for every other request."""
    status = faults.placement_5xx
    if not status or (method, route) not in PLACEMENTS:
        return None
    return web.Response(
        text=f"<html><body><h1>{status} Server Error</h1><p>upstream failed</p></body></html>",
        status=status,
        content_type="text/html",
    )


def withheld(faults: Faults, method: str, route: str, response: web.StreamResponse) -> bool:
    """True when this answer must be swallowed: the order was accepted (or the cancel done) and
    the matching fault is on."""
    if faults.accept_then_timeout and (method, route) in PLACEMENTS:
        return _accepted(response)
    if faults.drop_cancel_answer and is_cancel(method, route):
        return _accepted(response)
    return False
