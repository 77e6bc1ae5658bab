"""Cross-object rules (configuration/rules.py): every rule, its error class and its message."""

from __future__ import annotations

from typing import Any

import pytest

from backfuture_daemon.configuration.models import Connection, Policy, Strategy
from backfuture_daemon.configuration.rules import (
    CONFIG_ERROR_CLASSES,
    PLACEHOLDER,
    Located,
    check_revision,
)
from backfuture_daemon.configuration.sops import DECRYPT_ERROR_CLASSES
from backfuture_daemon.errors import ConfigIssue

KEY_A = "CANARYrulesKEYaaaa1111"
KEY_B = "CANARYrulesKEYbbbb2222"


def c(name: str = "MEXC Spot Main", key: str = KEY_A, **over: Any) -> Located[Connection]:
    fields: dict[str, Any] = {
        "name": name,
        "exchange": "mexc",
        "markets": ["spot"],
        "api_key": key,
        "api_secret": "CANARYrulesSECRET",
    }
    fields.update(over)
    return Located("conns.yaml", 0, Connection.model_validate(fields))


def s(name: str = "Main DCA", connection: str = "MEXC Spot Main", **over: Any) -> Located[Strategy]:
    fields: dict[str, Any] = {
        "name": name,
        "connection": connection,
        "pairs": ["BTC/USDT"],
        "margin_limit": 500,
    }
    fields.update(over)
    return Located("strats.yaml", 1, Strategy.model_validate(fields))


def run(
    conns: list[Located[Connection]],
    strats: list[Located[Strategy]] = (),  # type: ignore[assignment]
    policy: Policy | None = None,
    **kw: Any,
) -> list[ConfigIssue]:
    kw.setdefault("secrets_known", True)
    return check_revision(policy or Policy(), conns, list(strats), **kw)


def classes(issues: list[ConfigIssue]) -> list[str]:
    return [i.error_class for i in issues]


def test_valid_revision_has_no_issues() -> None:
    assert run([c(), c("Other", KEY_B)], [s(), s("Second", "Other")]) == []


def test_duplicate_connection_and_strategy_names() -> None:
    issues = run([c(), c(key=KEY_B)], [s(), s()])
    assert classes(issues) == ["duplicate_name", "duplicate_name"]
    assert issues[0].path == "connections[0].name"
    assert "already used at conns.yaml: connections[0]" in issues[0].message
    assert issues[1].path == "strategies[1].name"


def test_strategy_must_reference_an_existing_connection() -> None:
    issues = run([c()], [s(connection="MEXC Spot Mian")])
    assert classes(issues) == ["reference_invalid"]
    assert issues[0].path == "strategies[1].connection"
    assert 'did you mean "MEXC Spot Main"?' in issues[0].message


def test_unresolved_connection_suppresses_dangling_reference() -> None:
    assert run([], [s(connection="Broken")], unresolved={"Broken"}) == []


def test_strategy_market_must_be_enabled_on_connection() -> None:
    issues = run([c()], [s(market="futures", leverage=2)])
    assert classes(issues) == ["reference_invalid"]
    assert "market futures is not enabled" in issues[0].message
    ok = c(markets=["spot", "futures"])
    assert run([ok], [s(market="futures", leverage=2)]) == []


def test_margin_check_explains_the_numbers() -> None:
    issues = run(
        [c()],
        [
            s(
                margin_limit=300,
                max_active_groups=3,
                base_order_quote=10,
                adding={"add_order_quote": 10},
            )
        ],
    )
    assert classes(issues) == ["margin_exceeded"]
    msg = issues[0].message
    assert issues[0].path == "strategies[1].margin_limit"
    assert "3 group(s)" in msg
    assert "425.62 USDT" in msg
    assert "margin_limit 300.00 USDT" in msg
    assert "lower max_active_groups" in msg


def test_same_api_key_twice_is_an_error_unless_allowed() -> None:
    issues = run([c(), c("Other")])
    assert classes(issues) == ["duplicate_key"]
    assert KEY_A not in issues[0].message
    assert 'same API key as "MEXC Spot Main"' in issues[0].message
    assert run([c(), c("Other")], policy=Policy(allow_key_reuse=True)) == []


def test_key_reuse_not_judged_without_decrypted_secrets() -> None:
    a, b = c(key=PLACEHOLDER), c("Other", key=PLACEHOLDER)
    assert run([a, b]) == []
    assert run([c(), c("Other")], secrets_known=False) == []


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("http://127.0.0.1:9101", True),
        ("http://localhost:9101", True),
        ("http://[::1]:9101", True),
        ("http://127.5.5.5:1", True),
        ("https://api.mexc.com", False),
        ("http://10.0.0.1:9101", False),
        ("http://localhost.evil.example:1", False),
    ],
)
def test_endpoints_loopback_only(url: str, ok: bool) -> None:
    issues = run([c(endpoints={"spot": url})])
    assert classes(issues) == ([] if ok else ["policy_violation"])
    if not ok:
        assert issues[0].path == "connections[0].endpoints.spot"
    allowed = run([c(endpoints={"spot": url})], policy=Policy(allow_remote_endpoints=True))
    plain_remote = not ok and not url.startswith("https://")  # remote needs https as well
    assert classes(allowed) == (["policy_violation"] if plain_remote else [])


def test_empty_revision_rejected_only_when_not_allowed() -> None:
    assert run([], allow_empty=True) == []
    issues = run([], allow_empty=False)
    assert classes(issues) == ["empty_config"]


def test_last_add_must_stay_above_zero_on_spot() -> None:
    issues = run([c()], [s(adding={"max_adds": 25, "step_pct": 20, "step_scale": 1.1})])
    assert "sizing_invalid" in classes(issues)
    assert any("below the entry" in i.message and "< 100%" in i.message for i in issues)


def test_futures_adds_keep_clear_of_liquidation() -> None:
    conn = c(markets=["futures"])
    issues = run([conn], [s(market="futures", leverage=10, adding={"max_adds": 6, "step_pct": 3})])
    assert classes(issues) == ["sizing_invalid"]
    assert "liquidation" in issues[0].message


def test_max_active_adds_above_preset_max_adds() -> None:
    issues = run([c()], [s(risk_level="aggressive", adding={"max_active_adds": 5})])
    assert classes(issues) == ["sizing_invalid"]
    assert issues[0].path == "strategies[1].adding.max_active_adds"


def test_stop_loss_inside_adding_range() -> None:
    issues = run([c()], [s(stop_loss_pct=5)])
    assert classes(issues) == ["sizing_invalid"]
    assert issues[0].path == "strategies[1].stop_loss_pct"


def test_margin_too_small_for_the_orders() -> None:
    issues = run([c()], [s(margin_limit=0.01, max_active_groups=50, adding={"max_adds": 25})])
    assert "sizing_invalid" in classes(issues)


def test_error_classes_form_a_closed_set() -> None:
    assert len(set(CONFIG_ERROR_CLASSES)) == len(CONFIG_ERROR_CLASSES)
    assert set(DECRYPT_ERROR_CLASSES) <= set(CONFIG_ERROR_CLASSES)
    everything = run(
        [c(), c(), c("Remote", endpoints={"spot": "https://x.example"})],
        [s(), s(), s(connection="nope"), s("Small", margin_limit=1, base_order_quote=5)],
        allow_empty=False,
    )
    assert set(classes(everything)) <= set(CONFIG_ERROR_CLASSES)


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("api_secret", "true", "shorter than 8"),
        ("api_key", "abc1234", "shorter than 8"),
        ("api_secret", "strategies", "appears in names"),  # a word of the daemon's own JSON
        ("api_secret", "conservative", "appears in names"),  # a risk level
        ("api_key", "spot main", "appears in names"),  # inside the connection's own name
    ],
)
def test_secrets_too_short_or_too_common_to_redact_are_refused(
    field: str, value: str, why: str
) -> None:
    issues = run([c(**{field: value})], [s()])
    assert classes(issues) == ["policy_violation"]
    assert issues[0].path == f"connections[0].{field}"
    assert why in issues[0].message
    assert 'connection "MEXC Spot Main"' in issues[0].message
    assert f" {value} " not in f" {issues[0].message} "  # the value itself is never shown


def test_a_short_kucoin_passphrase_is_refused_naming_connection_and_field() -> None:
    conn = c(
        "KuCoin Main",
        exchange="kucoin",
        passphrase="Main",
        api_key="CANARYkcKEY1234",
        api_secret="CANARYkcSECRET1234",
    )
    issues = run([conn])
    assert [(i.path, i.error_class) for i in issues] == [
        ("connections[0].passphrase", "policy_violation")
    ]
    assert "shorter than 7 characters" in issues[0].message
    ok = c("KuCoin Main", exchange="kucoin", passphrase="Pass7ch", api_key="CANARYkc12345678")
    assert run([ok]) == []  # 7 characters (KuCoin's minimum) is enough
    assert run([conn], secrets_known=False) == []  # not decrypted: the values are unknown


def test_live_mode_only_where_the_live_order_path_exists() -> None:
    from backfuture_daemon.configuration.live_rules import LIVE_SPOT_EXCHANGES, check_live
    from backfuture_daemon.configuration.models import Connection, Market, Mode, Strategy
    from backfuture_daemon.exchanges.trading import VENUES

    # The rule names exactly the exchanges the trading port serves.
    assert set(VENUES) == LIVE_SPOT_EXCHANGES

    def conn(exchange: str, **kw: object) -> Connection:
        passphrase = {"passphrase": "demo-passphrase-1"} if exchange in ("kucoin", "okx") else {}
        return Connection.model_validate(
            {"name": "Conn", "exchange": exchange, "api_key": "k" * 12, "api_secret": "s" * 12}
            | passphrase
            | kw
        )

    live = Strategy(
        name="Live Bot", connection="Conn", pairs=("BTC/USDT",), margin_limit=500, mode="live"
    )
    assert check_live(live, conn("mexc")) is None
    assert check_live(live, conn("binance")) is None
    assert check_live(live, conn("okx")) is None
    assert check_live(live, conn("bybit")) is None
    assert check_live(live.model_copy(update={"mode": Mode.PAPER}), conn("bybit")) is None
    futures = live.model_copy(update={"market": Market.FUTURES, "leverage": 3})
    # Live futures: the futures ports' exchanges (KuCoin, OKX, ...), never MEXC (its API
    # refuses orders); the others are refused with the message naming what works.
    from backfuture_daemon.configuration.live_rules import LIVE_FUTURES_EXCHANGES
    from backfuture_daemon.exchanges.venue_ports import FUTURES_PORTS

    assert set(FUTURES_PORTS) == LIVE_FUTURES_EXCHANGES
    assert {"kucoin", "okx", "bybit", "binance"} <= LIVE_FUTURES_EXCHANGES
    assert "mexc" not in LIVE_FUTURES_EXCHANGES
    both = ["spot", "futures"]
    assert check_live(futures, conn("kucoin", markets=both)) is None
    assert check_live(futures, conn("okx", markets=both)) is None
    assert check_live(futures, conn("bybit", markets=both)) is None
    assert check_live(futures, conn("binance", markets=both)) is None
    mexc = check_live(futures, conn("mexc", markets=both)) or ""
    assert "mexc futures" in mexc
    assert "refuses orders" in mexc
    assert "mode: paper" in mexc
    for exchange in sorted({"bybit", "binance"} - LIVE_FUTURES_EXCHANGES):
        why = check_live(futures, conn(exchange, markets=both)) or ""
        assert f"{exchange} futures is not available" in why, why
        assert f"live futures: {', '.join(sorted(LIVE_FUTURES_EXCHANGES))})" in why
        assert "mode: paper" in why
    from backfuture_daemon.configuration import live_rules

    with pytest.MonkeyPatch.context() as mp:  # an exchange without a futures path: named
        mp.setattr(live_rules, "LIVE_FUTURES_EXCHANGES", LIVE_FUTURES_EXCHANGES - {"binance"})
        why = check_live(futures, conn("binance", markets=both)) or ""
        assert "binance futures is not available" in why, why
        assert "live futures: bybit, kucoin, okx)" in why
        assert "mode: paper" in why


def test_short_futures_adds_keep_clear_of_liquidation_above_the_entry() -> None:
    conn = c(markets=["futures"])
    adding = {"max_adds": 6, "step_pct": 3}
    issues = run([conn], [s(market="futures", side="short", leverage=10, adding=adding)])
    assert classes(issues) == ["sizing_invalid"]
    assert "above the entry" in issues[0].message
    assert "liquidation" in issues[0].message
    ok = run([conn], [s(market="futures", side="short", leverage=2, adding=adding)])
    assert ok == []


def test_short_stop_loss_inside_the_adding_range_and_a_100pct_take_profit() -> None:
    conn = c(markets=["futures"])
    issues = run([conn], [s(market="futures", side="short", stop_loss_pct=5)])
    assert classes(issues) == ["sizing_invalid"]
    assert issues[0].path == "strategies[1].stop_loss_pct"
    issues = run([conn], [s(market="futures", side="short", take_profit_pct=100)])
    assert [i.path for i in issues] == ["strategies[1].take_profit_pct"]
    assert "buy back at or below 0" in issues[0].message


def test_two_live_futures_bots_on_one_contract_and_connection_are_refused() -> None:
    kc = c("KuCoin Futures", exchange="kucoin", markets=["spot", "futures"],
           passphrase="kc-pass-phrase-1")  # fmt: skip
    fut: dict[str, Any] = {"market": "futures", "mode": "live", "leverage": 2, "margin_limit": 300}
    first = s("Long BTC", "KuCoin Futures", **fut)
    second = s("Short BTC", "KuCoin Futures", side="short", pairs=["ETH/USDT", "BTC/USDT"], **fut)
    issues = run([kc], [first, second])
    assert classes(issues) == ["policy_violation"]
    assert issues[0].path.endswith("pairs")
    assert '"Short BTC"' in issues[0].message
    assert 'BTC/USDT is already traded live on futures by strategy "Long BTC"' in issues[0].message
    # a paper bot, another pair, or spot on the same connection do not net
    assert run([kc], [first, s("Paper", "KuCoin Futures", **(fut | {"mode": "paper"}))]) == []
    assert run([kc], [first, s("ETH", "KuCoin Futures", pairs=["ETH/USDT"], **fut)]) == []
    assert run([kc], [first, s("Spot", "KuCoin Futures", mode="live")]) == []
