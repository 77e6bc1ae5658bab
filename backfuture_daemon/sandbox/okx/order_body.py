"""What OKX's order routes share on the sandbox, spot (okx/trading.py) and swap (okx/swap.py)
alike: the JSON body read as OKX reads it (50000 empty, 50002 not JSON), required and positive
parameters (50014, 51000), the clOrdId rule, and the two answers of an order call: a refusal
(HTTP 200, `"code":"1"`, the reason per order in `data[].sCode/sMsg`) and the per-order rows.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from backfuture_daemon.sandbox.okx.gateway import fail
from backfuture_daemon.sandbox.venue import BODY, ApiError, json_response

#: "A combination of case-sensitive alphanumerics, all numbers, or all letters of up to 32
#: characters" (OKX place-order doc).
CLIENT_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
FIRST_ORDER_ID = 600_000_000_000_000_000


def body_of(request: web.Request) -> dict[str, Any]:
    """The POST body as one JSON object."""
    raw = request[BODY]
    if not raw.strip():
        raise fail("50000", "Body for POST request cannot be empty.")
    try:
        body = json.loads(raw)
    except ValueError:
        raise fail("50002", "JSON syntax error") from None
    if not isinstance(body, dict):
        raise fail("50002", "JSON syntax error")
    return body


def required(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None or str(value) == "":
        raise fail("50014", f"Parameter {name} can not be empty.")
    return str(value)


def positive(body: dict[str, Any], name: str) -> Decimal:
    try:
        value = Decimal(required(body, name))
    except InvalidOperation:
        raise fail("51000", f"Parameter {name} error", 200) from None
    if not value.is_finite() or value <= 0:
        raise fail("51000", f"Parameter {name} error", 200)
    return value


def client_id(body: dict[str, Any]) -> str:
    """The order's clOrdId ("" when none); 51000 when it breaks OKX's rule."""
    cl_ord_id = str(body.get("clOrdId") or "")
    if cl_ord_id and not CLIENT_ID.match(cl_ord_id):
        raise fail("51000", "Parameter clOrdId error", 200)
    return cl_ord_id


def failed(code: str, msg: str, cl_ord_id: str, now: int) -> ApiError:
    """An order the exchange refused: HTTP 200, `"code":"1"`, the reason per order."""
    row = {"clOrdId": cl_ord_id, "ordId": "", "sCode": code, "sMsg": msg, "tag": "",
           "ts": str(now)}  # fmt: skip
    return ApiError(
        200,
        {
            "code": "1",
            "msg": "All operations failed",
            "data": [row],
            "inTime": str(now * 1000),
            "outTime": str(now * 1000),
        },
    )


def answer(code: str, rows: list[dict[str, Any]], now: int) -> web.Response:
    """An order call's answer: `"code"` 0 all done, 1 none, 2 some; one row per order."""
    msg = {"0": "", "1": "All operations failed", "2": "Bulk operation partially succeeded."}
    stamp = str(now * 1000)
    body = {"code": code, "msg": msg[code], "data": rows, "inTime": stamp, "outTime": stamp}
    return json_response(body)
