"""classify.py: exchange codes beat ccxt classes; vendor text is short and carries no secret.

The exceptions are produced by ccxt's own `handle_errors` / `handle_http_status_code` from the
real error bodies (reference/exchanges.md §5, §6), so the test follows ccxt, not a mock of it.
"""

from __future__ import annotations

import json

import ccxt
import pytest

from backfuture_daemon.exchanges.classify import classify, classify_error, parse_body
from backfuture_daemon.health import ErrorClass as E
from backfuture_daemon.redaction import Redactor

_CLIENTS = {"mexc": ccxt.mexc(), "kucoin": ccxt.kucoin(), "kucoinfutures": ccxt.kucoinfutures()}
URL = "http://127.0.0.1:9101/api/v3/account?timestamp=1&signature=" + "ab" * 32


def raised(exchange: str, status: int, body: object) -> BaseException:
    ex = _CLIENTS[exchange]
    text = body if isinstance(body, str) else json.dumps(body)
    parsed = None if isinstance(body, str) else body
    try:
        ex.handle_errors(status, "reason", URL, "GET", {}, text, parsed, {}, "")
        ex.handle_http_status_code(status, "reason", URL, "GET", text)
    except ccxt.BaseError as e:
        return e  # type: ignore[no-any-return]
    raise AssertionError("ccxt raised nothing")


MEXC_CASES = [
    (400, {"code": 10072, "msg": "Api key info invalid"}, E.INVALID_KEY),
    (400, {"code": 700002, "msg": "Signature for this request is not valid."}, E.INVALID_KEY),
    (400, {"code": 700006, "msg": "IP [1.2.3.4] not in the ip white list"}, E.IP_NOT_ALLOWED),
    (400, {"code": 700007, "msg": "No permission to access the endpoint."}, E.NO_TRADE_PERMISSION),
    (
        400,
        {"code": 700003, "msg": "Timestamp for this request is outside of the recvWindow."},
        E.CLOCK_SKEW,
    ),
    (400, {"code": 60005, "msg": "your account is abnormal"}, E.ACCOUNT_SUSPENDED),
    (429, {"code": 429, "msg": "Too Many Requests"}, E.RATE_LIMITED),
    (429, "", E.RATE_LIMITED),
    (503, {"code": 801, "msg": "System under maintenance"}, E.EXCHANGE_UNAVAILABLE),
    (
        200,
        {"code": 500, "message": "Under maintenance, please try again later"},
        E.EXCHANGE_UNAVAILABLE,
    ),
    (503, {"code": 503, "msg": "service not available, please try again"}, E.EXCHANGE_UNAVAILABLE),
    (502, "<html>bad gateway</html>", E.EXCHANGE_UNAVAILABLE),
    (200, {"success": False, "code": 406, "message": "ip not allowed"}, E.IP_NOT_ALLOWED),
    (
        200,
        {"success": False, "code": 1002, "message": "Contract not allow place order!"},
        E.FUTURES_UNAVAILABLE,
    ),
    (
        200,
        {"success": False, "code": 701, "message": "no account read permission"},
        E.NO_TRADE_PERMISSION,
    ),
    (400, {"code": 10007, "msg": "symbol not support api"}, E.PAIR_NOT_TRADABLE),
    (400, {"code": 123456, "msg": "something new"}, E.UNKNOWN_ERROR),
]

KUCOIN_CASES = [
    (401, {"code": "400003", "msg": "KC-API-KEY does not exist."}, E.INVALID_KEY),
    (401, {"code": "400004", "msg": "Invalid KC-API-PASSPHRASE."}, E.INVALID_KEY),
    (401, {"code": "400005", "msg": "Invalid KC-API-SIGN."}, E.INVALID_KEY),
    (401, {"code": "400002", "msg": "Invalid KC-API-TIMESTAMP."}, E.CLOCK_SKEW),
    (
        403,
        {"code": "400006", "msg": "Invalid request IP, the current client IP is: 1.2.3.4"},
        E.IP_NOT_ALLOWED,
    ),
    (
        403,
        {"code": "400007", "msg": "Access denied, require more permission."},
        E.NO_TRADE_PERMISSION,
    ),
    (403, {"code": "411100", "msg": "User are frozen"}, E.ACCOUNT_SUSPENDED),
    (429, {"code": "429000", "msg": "Too many requests."}, E.RATE_LIMITED),
    (500, {"code": "500000", "msg": "Internal Server Error"}, E.EXCHANGE_UNAVAILABLE),
    (503, "<html>maintenance</html>", E.EXCHANGE_UNAVAILABLE),
]


@pytest.mark.parametrize(("status", "body", "expected"), MEXC_CASES)
def test_mexc_codes(status: int, body: object, expected: E) -> None:
    assert classify(raised("mexc", status, body), "mexc") is expected


@pytest.mark.parametrize(("status", "body", "expected"), KUCOIN_CASES)
@pytest.mark.parametrize("exchange", ["kucoin", "kucoinfutures"])
def test_kucoin_codes_both_hosts(exchange: str, status: int, body: object, expected: E) -> None:
    assert classify(raised(exchange, status, body), exchange) is expected


def test_code_beats_misleading_ccxt_class() -> None:
    # ccxt says BadRequest for MEXC's IP rejection and AuthenticationError for KuCoin's.
    mexc_ip = raised("mexc", 400, {"code": 700006, "msg": "IP [1.2.3.4] not in the ip white list"})
    kucoin_scope = raised("kucoin", 403, {"code": "400007", "msg": "Access denied"})
    assert isinstance(mexc_ip, ccxt.BadRequest)
    assert isinstance(kucoin_scope, ccxt.AuthenticationError)
    assert classify(mexc_ip, "mexc") is E.IP_NOT_ALLOWED
    c = classify_error(kucoin_scope, "kucoin")
    assert c.scope_missing
    assert c.code == "400007"


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ccxt.RequestTimeout("mexc GET http://x"), E.EXCHANGE_UNAVAILABLE),
        (ccxt.ExchangeNotAvailable("mexc GET http://x"), E.EXCHANGE_UNAVAILABLE),
        (ccxt.NetworkError("kucoin GET http://x"), E.EXCHANGE_UNAVAILABLE),
        (ccxt.InvalidNonce("kucoin"), E.CLOCK_SKEW),
        (ccxt.RateLimitExceeded("mexc"), E.RATE_LIMITED),
        (ccxt.DDoSProtection("mexc"), E.RATE_LIMITED),
        (ccxt.AccountSuspended("kucoin"), E.ACCOUNT_SUSPENDED),
        (ccxt.PermissionDenied("kucoin"), E.NO_TRADE_PERMISSION),
        (ccxt.AuthenticationError("kucoin"), E.INVALID_KEY),
        (ccxt.ExchangeError("kucoin"), E.UNKNOWN_ERROR),
        (TimeoutError(), E.EXCHANGE_UNAVAILABLE),
        (ConnectionRefusedError(), E.EXCHANGE_UNAVAILABLE),
        (ValueError("boom"), E.UNKNOWN_ERROR),
    ],
)
def test_ccxt_class_fallback(exc: BaseException, expected: E) -> None:
    assert classify(exc, "mexc") is expected


def test_http_status_parsed_from_ccxt_fallback_message() -> None:
    e = raised("mexc", 404, "<html>Not Found</html>")
    c = classify_error(e, "mexc")
    assert c.http_status == 404


def test_detail_is_short_and_never_carries_a_secret() -> None:
    canary_key, canary_secret = "mx0CANARYKEY1234", "CANARY-SECRET-value"
    body = {"code": 700002, "msg": f"bad sig for {canary_key} with {canary_secret} " + "x" * 500}
    e = raised("mexc", 400, body)
    c = classify_error(e, "mexc", redact=Redactor([canary_key, canary_secret]))
    assert canary_key not in c.detail
    assert canary_secret not in c.detail
    assert len(c.detail) <= 160
    assert c.detail.startswith("code 700002")


def test_detail_drops_urls_with_signatures_and_keys() -> None:
    canary = "mx0URLKEYCANARY9"
    url = f"http://127.0.0.1:1/api/v3/apiKeyInfo?accessKey={canary}&signature={'cd' * 32}"
    e = ccxt.ExchangeNotAvailable(f"mexc GET {url} 404 Not Found <html></html>")
    c = classify_error(e, "mexc")
    assert canary not in c.detail
    assert "cdcd" not in c.detail
    assert c.http_status == 404


def test_parse_body() -> None:
    assert parse_body('kucoin {"code":"400005","msg":"Invalid KC-API-SIGN."}') == {
        "code": "400005",
        "msg": "Invalid KC-API-SIGN.",
    }
    assert parse_body("mexc GET http://x") is None
    assert parse_body("mexc {not json") is None


#: Every code of reference/exchanges.md §5, §6 and the §7 state mapping, with its ErrorClass.
MEXC_FULL_TABLE = [
    (400, {"code": 700001, "msg": "API-key format invalid."}, E.INVALID_KEY),
    (400, {"code": 700004, "msg": "Mandatory parameter 'signature' was not sent"}, E.INVALID_KEY),
    (400, {"code": 700005, "msg": "recvWindow must less than 60000"}, E.CLOCK_SKEW),
    (
        200,
        {"success": False, "code": 602, "message": "Signature verification failed"},
        E.INVALID_KEY,
    ),
    (200, {"success": False, "code": 401, "message": "Not logged in"}, E.INVALID_KEY),
    (200, {"success": False, "code": 402, "message": "Api key expired"}, E.INVALID_KEY),
    (200, {"success": False, "code": 510, "message": "Too frequent"}, E.RATE_LIMITED),
    (200, {"success": False, "code": 513, "message": "Invalid Request-Time"}, E.CLOCK_SKEW),
    (200, {"success": False, "code": 10073, "message": "Invalid Request-Time"}, E.CLOCK_SKEW),
    (400, {"code": 60005, "msg": "your account is abnormal"}, E.ACCOUNT_SUSPENDED),
    (400, {"code": 140002, "msg": "account is frozen"}, E.ACCOUNT_SUSPENDED),
    (400, {"code": 70011, "msg": "Pair user ban trade apikey."}, E.NO_TRADE_PERMISSION),
    (400, {"code": 30020, "msg": "no permission for the symbol"}, E.NO_TRADE_PERMISSION),
    (200, {"success": False, "code": 703, "message": "no trade read"}, E.NO_TRADE_PERMISSION),
    (200, {"success": False, "code": 704, "message": "no trade write"}, E.NO_TRADE_PERMISSION),
    (
        200,
        {"success": False, "code": 801, "message": "System under maintenance"},
        E.EXCHANGE_UNAVAILABLE,
    ),
    (503, {"code": 604, "msg": "System under maintenance"}, E.EXCHANGE_UNAVAILABLE),
    (503, {"code": 11444, "msg": "System under maintenance"}, E.EXCHANGE_UNAVAILABLE),
    (200, {"success": False, "code": 501, "message": "busy"}, E.EXCHANGE_UNAVAILABLE),
    (418, "", E.RATE_LIMITED),
    (403, "<html><body>Access denied (WAF)</body></html>", E.EXCHANGE_UNAVAILABLE),
    (504, "", E.EXCHANGE_UNAVAILABLE),
    (400, {"code": 30051, "msg": "api market order is disabled"}, E.PAIR_NOT_TRADABLE),
    # Unknown codes fall back on the HTTP status, then the ccxt class.
    (503, {"code": 987654, "msg": "new outage text"}, E.EXCHANGE_UNAVAILABLE),
    (429, {"code": 987654, "msg": "slow down"}, E.RATE_LIMITED),
]

KUCOIN_FULL_TABLE = [
    (401, {"code": "400001", "msg": "Please check the URL of your request."}, E.INVALID_KEY),
    (
        401,
        {"code": "400008", "msg": "V1 & V2 API keys are no longer supported by this API."},
        E.INVALID_KEY,
    ),
    (401, {"code": "400009", "msg": "Invalid KC-API-KEY-VERSION."}, E.INVALID_KEY),
    (403, {"code": "400301", "msg": "Operation restricted due to local laws"}, E.ACCOUNT_SUSPENDED),
    (403, {"code": "400500", "msg": "restricted location"}, E.ACCOUNT_SUSPENDED),
    (200, {"code": "200002", "msg": "Too many requests in a short period"}, E.RATE_LIMITED),
    (429, "", E.RATE_LIMITED),
    (503, {"code": "503000", "msg": "Service unavailable"}, E.EXCHANGE_UNAVAILABLE),
    (502, "<html>bad gateway</html>", E.EXCHANGE_UNAVAILABLE),
    # Unknown codes: a 5xx is the exchange's fault; a plain 400 stays unknown.
    (500, {"code": "777777", "msg": "new failure"}, E.EXCHANGE_UNAVAILABLE),
    (400, {"code": "777777", "msg": "new failure"}, E.UNKNOWN_ERROR),
]


@pytest.mark.parametrize(("status", "body", "expected"), MEXC_FULL_TABLE)
def test_mexc_reference_codes(status: int, body: object, expected: E) -> None:
    # The connection test passes the response's status (ccxt's message may not carry it).
    c = classify_error(raised("mexc", status, body), "mexc", http_status=status)
    assert c.error_class is expected


@pytest.mark.parametrize(("status", "body", "expected"), KUCOIN_FULL_TABLE)
@pytest.mark.parametrize("exchange", ["kucoin", "kucoinfutures"])
def test_kucoin_reference_codes_both_hosts(
    exchange: str, status: int, body: object, expected: E
) -> None:
    c = classify_error(raised(exchange, status, body), exchange, http_status=status)
    assert c.error_class is expected


def test_mexc_30018_depends_on_its_text() -> None:
    # The doc's "market order is disabled" is a per-symbol order-type restriction; ccxt's
    # comment text ("account may not place orders") is an account block (reference §5, §7).
    market_orders = raised("mexc", 400, {"code": 30018, "msg": "market order is disabled"})
    account = raised("mexc", 400, {"code": 30018, "msg": "账号暂时不能下单，请联系客服"})
    assert classify(market_orders, "mexc") is E.PAIR_NOT_TRADABLE
    assert classify(account, "mexc") is E.ACCOUNT_SUSPENDED


def test_kucoin_404000_is_not_a_key_fault() -> None:
    # `Url Not Found`: a wrong endpoint (or an older deployment), never "key invalid".
    c = classify_error(raised("kucoin", 404, {"code": "404000", "msg": "Url Not Found"}), "kucoin")
    assert c.code == "404000"
    assert c.error_class not in (E.INVALID_KEY, E.NO_TRADE_PERMISSION)


def test_rate_limit_detail_names_the_code() -> None:
    c = classify_error(raised("kucoin", 429, {"code": "429000", "msg": "Too many"}), "kucoin")
    assert c.detail.startswith("code 429000")
