"""Exchange failures -> ErrorClass, in one place, from one table keyed on the exchanges' own codes.

Called by probes.ConnectionTester (and anything else that catches ccxt errors). ccxt's exception
class often misleads (reference/exchanges.md §0.5: MEXC 700006 "IP not whitelisted" is a
BadRequest), so the exchange code parsed from the message (`"<id> <json body>"`) wins; the ccxt
class is only the fallback. `describe` renders the vendor text short and redacted for a reason.
`trading_error` maps the same classification onto what an order call's caller does next.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from backfuture_daemon.exchanges import binance_codes, bybit_codes, okx_codes
from backfuture_daemon.exchanges.port import (
    OrderRejected,
    TradingErrorClass,
    TradingUnavailable,
)
from backfuture_daemon.health import ErrorClass
from backfuture_daemon.redaction import GLOBAL_REDACTOR, scrub_tokens, shorten

E = ErrorClass

#: (exchange, code) -> class. Both hosts of an exchange share one namespace (MEXC spot v3 and
#: contract v1; KuCoin spot and futures). Sources: reference/exchanges.md §5, §6, §7.
CODES: dict[str, dict[str, ErrorClass]] = {
    "mexc": {
        # key invalid / signature / key expired
        **dict.fromkeys(
            ["10072", "700001", "700002", "700004", "602", "401", "402"], E.INVALID_KEY
        ),
        # IP whitelist
        **dict.fromkeys(["700006", "406"], E.IP_NOT_ALLOWED),
        # scope missing (which scope depends on the call: see SCOPE_CODES)
        **dict.fromkeys(
            ["700007", "701", "702", "703", "704", "30020", "70011"], E.NO_TRADE_PERMISSION
        ),
        # account blocked
        **dict.fromkeys(["60005", "140002", "30018"], E.ACCOUNT_SUSPENDED),
        # timestamp outside the window
        **dict.fromkeys(["700003", "700005", "513", "10073"], E.CLOCK_SKEW),
        # rate limits
        **dict.fromkeys(["429", "510", "418"], E.RATE_LIMITED),
        # down / maintenance / busy
        **dict.fromkeys(
            ["500", "501", "503", "504", "801", "604", "11444"], E.EXCHANGE_UNAVAILABLE
        ),
        # symbol not tradable by API
        **dict.fromkeys(["10007", "30051", "30014"], E.PAIR_NOT_TRADABLE),
        # futures order API disabled
        "1002": E.FUTURES_UNAVAILABLE,
    },
    "kucoin": {
        **dict.fromkeys(
            ["400001", "400003", "400004", "400005", "400008", "400009"], E.INVALID_KEY
        ),
        "400006": E.IP_NOT_ALLOWED,
        "400007": E.NO_TRADE_PERMISSION,
        **dict.fromkeys(["411100", "400301", "400500"], E.ACCOUNT_SUSPENDED),
        "400002": E.CLOCK_SKEW,
        **dict.fromkeys(["429000", "200002"], E.RATE_LIMITED),
        **dict.fromkeys(["500000", "503000"], E.EXCHANGE_UNAVAILABLE),
        **dict.fromkeys(["400600", "900001"], E.PAIR_NOT_TRADABLE),
    },
}

#: Codes whose meaning depends on the text: (exchange, code) -> (lower-case text fragment, class
#: when the fragment is present). MEXC 30018 is documented as "market order is disabled" (an
#: order-type restriction on the pair) but ccxt's comment shows it as "account may not place
#: orders" (an account block, the table's default) — reference §5, §7.
TEXT_OVERRIDES: dict[tuple[str, str], tuple[str, ErrorClass]] = {
    ("mexc", "30018"): ("market order", E.PAIR_NOT_TRADABLE),
}

#: Codes meaning "this key lacks the scope for this endpoint": the step decides which scope.
SCOPE_CODES: dict[str, frozenset[str]] = {
    "mexc": frozenset({"700007", "701", "702", "703", "704", "30020", "70011"}),
    "kucoin": frozenset({"400007"}),
}

#: Ids ccxt uses per exchange family (kucoinfutures shares KuCoin's codes).
FAMILY: dict[str, str] = {"mexc": "mexc", "kucoin": "kucoin", "kucoinfutures": "kucoin"}
# Each further exchange plugs its own code table in here (exchanges/<name>_codes.py).
CODES["binance"] = binance_codes.CODES
FAMILY.update(binance_codes.FAMILY)
CODES["bybit"] = bybit_codes.CODES
SCOPE_CODES["bybit"] = bybit_codes.SCOPE_CODES
FAMILY.update(bybit_codes.FAMILY)
CODES["okx"] = okx_codes.CODES
SCOPE_CODES["okx"] = okx_codes.SCOPE_CODES
FAMILY.update(okx_codes.FAMILY)

_HTTP_STATUS = re.compile(r"\s(?:GET|POST|PUT|DELETE)\s\S+\s(\d{3})\s")
_URL = re.compile(r"https?://\S+")
_TAG = re.compile(r"<[^>]*>")


@dataclass(frozen=True, slots=True)
class Classified:
    """A classified failure: the class, the exchange's code (if any) and a safe short detail."""

    error_class: ErrorClass
    code: str | None
    http_status: int | None
    detail: str
    scope_missing: bool = False
    known_code: bool = False
    #: seconds the exchange asked us to wait (Retry-After), when rate limited.
    retry_after: float | None = None


def _ccxt_class_table() -> list[tuple[type[BaseException], ErrorClass]]:
    import ccxt

    # Most specific first: these are subclasses of NetworkError / AuthenticationError.
    return [
        (ccxt.InvalidNonce, E.CLOCK_SKEW),
        (ccxt.RateLimitExceeded, E.RATE_LIMITED),
        (ccxt.DDoSProtection, E.RATE_LIMITED),
        (ccxt.AccountSuspended, E.ACCOUNT_SUSPENDED),
        (ccxt.PermissionDenied, E.NO_TRADE_PERMISSION),
        (ccxt.AuthenticationError, E.INVALID_KEY),
        (ccxt.NetworkError, E.EXCHANGE_UNAVAILABLE),
        (ccxt.BadResponse, E.EXCHANGE_UNAVAILABLE),
        (ccxt.BadSymbol, E.PAIR_NOT_TRADABLE),
        (ccxt.ContractUnavailable, E.FUTURES_UNAVAILABLE),
    ]


_CLASS_TABLE: list[tuple[type[BaseException], ErrorClass]] | None = None


def parse_body(message: str) -> dict[str, object] | None:
    """The JSON body ccxt put in an exception message (`"<id> <body>"`), if any."""
    start = message.find("{")
    if start < 0:
        return None
    try:
        body, _ = json.JSONDecoder().raw_decode(message[start:])
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _code_and_text(message: str) -> tuple[str | None, str]:
    body = parse_body(message)
    if body is None:
        return None, ""
    code = body.get("code", body.get("retCode"))  # Bybit: retCode / retMsg
    text = body.get("msg") or body.get("message") or body.get("retMsg") or ""
    return (None if code is None else str(code)), str(text)


def classify_error(
    exc: BaseException,
    exchange: str,
    *,
    redact: Callable[[str], str] | None = None,
    http_status: int | None = None,
) -> Classified:
    """Full classification: class, exchange code, HTTP status and a safe one-line detail.

    `http_status`: the response's status when the caller knows it (ccxt's message carries it only
    when no exchange code was recognised); it decides for codes missing from the table.
    """
    family = FAMILY.get(exchange, exchange)
    message = str(exc.args[0]) if exc.args else ""
    code, text = _code_and_text(message)
    status_match = _HTTP_STATUS.search(message)
    if status_match:
        http_status = int(status_match.group(1))
    table = CODES.get(family, {})
    known = code is not None and code in table
    if known:
        assert code is not None
        error_class = table[code]
        fragment, override = TEXT_OVERRIDES.get((family, code), ("", error_class))
        if fragment and fragment in text.lower():
            error_class = override
    elif "maintenance" in message.lower():
        error_class = E.EXCHANGE_UNAVAILABLE
    elif http_status == 429:
        error_class = E.RATE_LIMITED
    elif http_status is not None and http_status >= 500:
        error_class = E.EXCHANGE_UNAVAILABLE
    else:
        error_class = _by_class(exc)
    scope = code is not None and code in SCOPE_CODES.get(family, frozenset())
    detail = describe(exc, code=code, text=text, http_status=http_status, redact=redact)
    return Classified(error_class, code, http_status, detail, scope_missing=scope, known_code=known)


def _by_class(exc: BaseException) -> ErrorClass:
    global _CLASS_TABLE
    if isinstance(exc, TimeoutError | asyncio.TimeoutError | ConnectionError):
        return E.EXCHANGE_UNAVAILABLE
    if _CLASS_TABLE is None:
        _CLASS_TABLE = _ccxt_class_table()
    for cls, error_class in _CLASS_TABLE:
        if isinstance(exc, cls):
            return error_class
    return E.UNKNOWN_ERROR


def classify(exc: BaseException, exchange: str) -> ErrorClass:
    """The ErrorClass of an exchange failure (team interface; see `classify_error`)."""
    return classify_error(exc, exchange).error_class


def describe(
    exc: BaseException,
    *,
    code: str | None = None,
    text: str = "",
    http_status: int | None = None,
    redact: Callable[[str], str] | None = None,
) -> str:
    """Short, redacted vendor text: `code 700006: IP [..] not in the ip white list`.

    URLs are dropped (they carry query strings with keys and signatures), long tokens are cut
    out, every registered secret is replaced, and the result is shortened.
    """
    if code is not None:
        raw = f"code {code}: {text}" if text else f"code {code}"
    else:
        message = str(exc.args[0]) if exc.args else ""
        # ccxt prefixes "<id> <METHOD> <url>"; keep what follows the URL, else the class name.
        raw = _TAG.sub(" ", _URL.sub("", message))
        parts = raw.split()
        if parts and parts[0].isidentifier() and parts[0].islower():
            parts = parts[1:]
        if parts and parts[0] in ("GET", "POST", "PUT", "DELETE"):
            parts = parts[1:]
        raw = " ".join(parts)
        name = type(exc).__name__
        raw = f"{name}: {raw}" if raw else name
        if http_status is not None and str(http_status) not in raw:
            raw = f"HTTP {http_status} {raw}"
    if redact is not None:
        raw = redact(raw)
    return shorten(scrub_tokens(GLOBAL_REDACTOR(raw)), 160)


#: Balance too low for the order (reference §5, §6): MEXC 30004 / 10101, KuCoin 200004.
INSUFFICIENT_FUNDS_CODES: dict[str, frozenset[str]] = {
    "mexc": frozenset({"30004", "10101"}),
    "kucoin": frozenset({"200004"}),
    "okx": okx_codes.INSUFFICIENT_FUNDS_CODES,
    "bybit": bybit_codes.INSUFFICIENT_FUNDS,
    "binance": binance_codes.INSUFFICIENT_FUNDS,
}
#: Codes that name a missing or malformed parameter: the key's own problem only when the
#: parameter is the signature (MEXC 700004, reference §5).
PARAMETER_CODES: frozenset[tuple[str, str]] = frozenset({("mexc", "700004")})
_TEMPORARY = {
    ErrorClass.RATE_LIMITED: TradingErrorClass.RATE_LIMITED,
    ErrorClass.EXCHANGE_UNAVAILABLE: TradingErrorClass.EXCHANGE_UNAVAILABLE,
}
_KEY_PROBLEMS = frozenset(
    {
        ErrorClass.INVALID_KEY,
        ErrorClass.NO_READ_PERMISSION,
        ErrorClass.NO_TRADE_PERMISSION,
        ErrorClass.NO_FUTURES_PERMISSION,
        ErrorClass.IP_NOT_ALLOWED,
        ErrorClass.ACCOUNT_SUSPENDED,
        ErrorClass.CLOCK_SKEW,
    }
)


def trading_error(
    exc: BaseException,
    exchange: str,
    *,
    redact: Callable[[str], str] | None = None,
    http_status: int | None = None,
    retry_after: float | None = None,
) -> OrderRejected | TradingUnavailable:
    """An order call's failure as the exception its caller handles: `TradingUnavailable` (retry
    later; a `place` outcome is unknown until looked up by client id) or `OrderRejected`."""
    import ccxt

    c = classify_error(exc, exchange, redact=redact, http_status=http_status)
    family = FAMILY.get(exchange, exchange)
    if isinstance(exc, ccxt.InsufficientFunds) or c.code in INSUFFICIENT_FUNDS_CODES.get(
        family, frozenset()
    ):
        return OrderRejected(TradingErrorClass.INSUFFICIENT_FUNDS, c.detail)
    if c.error_class in _TEMPORARY:
        wait = retry_after if c.error_class is ErrorClass.RATE_LIMITED else None
        return TradingUnavailable(_TEMPORARY[c.error_class], c.detail, wait)
    if (family, c.code) in PARAMETER_CODES and "signature" not in c.detail.lower():
        # "Mandatory parameter 'quantity' ... malformed": the order, not the key, is wrong.
        return OrderRejected(TradingErrorClass.ORDER_REJECTED, c.detail)
    if c.error_class in _KEY_PROBLEMS:
        return OrderRejected(TradingErrorClass.AUTH_REJECTED, c.detail)
    rejected = (ccxt.BadRequest, ccxt.InvalidOrder, ccxt.ArgumentsRequired, ccxt.NotSupported)
    if c.error_class is not ErrorClass.UNKNOWN_ERROR or c.code is not None:
        # a pair rule, or a business rule's code outside the table (size, price, unknown order)
        return OrderRejected(TradingErrorClass.ORDER_REJECTED, c.detail)
    if isinstance(exc, rejected):
        return OrderRejected(TradingErrorClass.ORDER_REJECTED, c.detail)
    # No code, no known class: the request may or may not have been executed.
    return TradingUnavailable(TradingErrorClass.EXCHANGE_UNAVAILABLE, c.detail)
