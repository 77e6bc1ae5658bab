"""Bybit's own retCodes -> ErrorClass: the table classify.py consults before ccxt's class.

Plugged into classify.CODES / SCOPE_CODES / FAMILY (one line each); kept here so the Bybit
addition stays in Bybit files. Why a table: ccxt calls 10010 (IP not bound) PermissionDenied,
33004 (key expired) and 10009 AuthenticationError, 10016 a plain ExchangeError and a bare HTTP 403
RateLimitExceeded (reference §3.4, §C.6-§C.7). Bybit puts the code in `retCode` (HTTP 200).
"""

from __future__ import annotations

from backfuture_daemon.health import ErrorClass

E = ErrorClass

#: Sources: docs/v5/error.mdx via reference/exchanges-more.md §3.4; ccxt 4.5.90's exact table.
CODES: dict[str, ErrorClass] = {
    # key unknown (or from another environment) / bad signature / key missing / key expired
    **dict.fromkeys(["10003", "10004", "10007", "33004"], E.INVALID_KEY),
    "10002": E.CLOCK_SKEW,
    "10010": E.IP_NOT_ALLOWED,
    # "Permission denied, please check your API key permissions." Which permission depends on
    # the call: a scope code (SCOPE_CODES), the step decides.
    "10005": E.NO_TRADE_PERMISSION,
    # UID limit ("Too many visits!"), IP limit, IP banned for abuse ⚠
    **dict.fromkeys(["10006", "10018", "10009"], E.RATE_LIMITED),
    # server error / server timeout / service busy
    **dict.fromkeys(["10016", "10000", "5004"], E.EXCHANGE_UNAVAILABLE),
    # user banned, trading banned, compliance (region) rules
    **dict.fromkeys(["10008", "10027", "10024"], E.ACCOUNT_SUSPENDED),
    # the symbol is not on the key's symbol whitelist
    "10029": E.PAIR_NOT_TRADABLE,
}

#: Balance too low for an order (classify.INSUFFICIENT_FUNDS_CODES): spot 170131 "Insufficient
#: balance."; unified account 110004 / 110007 / 110012 / 110052 (ccxt 4.5.90's table); spot
#: margin 170033. Order rules (170130-170148), 110001 unknown order and 170141 duplicate
#: orderLinkId stay outside CODES: a business rule's code, so the order is rejected. Linear
#: (bybit_futures_trading.py) likewise: 110017 reduce-only would open or grow the position,
#: 110094 notional under the minimum, 110072 duplicate orderLinkId (the port adopts the
#: existing order), 110043 leverage not modified (the port counts it as set), 100028 a
#: per-symbol margin call on a unified account, 10001 parameters (qty step / limits).
INSUFFICIENT_FUNDS: frozenset[str] = frozenset(
    {"170131", "110004", "110007", "110012", "110052", "170033"}
)

#: The code meaning "this key lacks the permission for this call".
PERMISSION_CODE = "10005"
SCOPE_CODES: frozenset[str] = frozenset({PERMISSION_CODE})

#: ccxt ids sharing Bybit's code namespace (spot and linear on one v5 host).
FAMILY: dict[str, str] = {"bybit": "bybit"}


def code_and_text(body: dict[str, object]) -> tuple[str | None, str]:
    """Bybit's error body (`retCode`/`retMsg`, legacy `ret_code`/`ret_msg`): what classify.py's
    parser reads from `code`/`msg` on the other exchanges."""
    code = body.get("retCode", body.get("ret_code"))
    text = body.get("retMsg") or body.get("ret_msg") or ""
    return (None if code is None else str(code)), str(text)
