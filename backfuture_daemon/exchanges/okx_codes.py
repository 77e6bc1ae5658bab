"""OKX's own error codes -> ErrorClass: the table classify.py consults before ccxt's class.

Plugged into classify.CODES / SCOPE_CODES / FAMILY (one line each); kept here so the OKX
addition stays in OKX files. Why a table: ccxt 4.5.90 has no entry for 50119 (key does not
exist) or 50120 (no permission) and calls them ExchangeError (reference §C.5).
"""

from __future__ import annotations

from backfuture_daemon.health import ErrorClass

E = ErrorClass

#: 50103/50104/50106/50107: an auth header is missing.
_KEY_CODES = [
    "50111",
    "50119",
    "50101",
    "50105",
    "50113",
    "50114",
    "50008",
    "50103",
    "50104",
    "50106",
    "50107",
]
#: Sources: reference/exchanges-more.md §2.4 and ccxt okx's `exceptions['exact']` comments.
CODES: dict[str, ErrorClass] = {
    # key unknown / other environment / wrong passphrase / signature / auth header missing
    **dict.fromkeys(_KEY_CODES, E.INVALID_KEY),
    # timestamp expired; 50112 (malformed or out-of-range timestamp) ⚠ read as the clock too
    **dict.fromkeys(["50102", "50112"], E.CLOCK_SKEW),
    # the caller's IP is not on the key's whitelist; 50121: IP refused by OKX itself
    **dict.fromkeys(["50110", "50121"], E.IP_NOT_ALLOWED),
    # the key lacks the permission for this call (which one: the step decides, SCOPE_CODES)
    **dict.fromkeys(["50120", "50030"], E.NO_TRADE_PERMISSION),
    # account blocked / liquidation / restricted from trading / API frozen
    **dict.fromkeys(["50007", "50009", "50027", "51024", "50100"], E.ACCOUNT_SUSPENDED),
    **dict.fromkeys(["50011", "50061"], E.RATE_LIMITED),
    # unavailable / endpoint timeout / offline / busy / system error
    **dict.fromkeys(["50001", "50004", "50005", "50013", "50026"], E.EXCHANGE_UNAVAILABLE),
    "51001": E.PAIR_NOT_TRADABLE,
    # the account mode (acctLv 1, Spot mode) does not allow derivatives
    "51010": E.FUTURES_UNAVAILABLE,
}

#: An order refused for the balance (per order in `data[].sCode`; exchanges/okx_trading.py
#: classifies that code): 51008 insufficient balance or margin, 51119 / 51131 insufficient
#: balance, 51127 available balance 0 (ccxt okx's `exceptions['exact']`).
INSUFFICIENT_FUNDS_CODES: frozenset[str] = frozenset({"51008", "51119", "51127", "51131"})

#: Codes meaning "this key lacks the permission this endpoint needs".
SCOPE_CODES: frozenset[str] = frozenset({"50120", "50030"})

#: ccxt ids sharing OKX's code namespace.
FAMILY: dict[str, str] = {"okx": "okx", "myokx": "okx", "okxus": "okx"}
