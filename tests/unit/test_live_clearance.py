"""The second, independent check of the live send path, property-tested: whatever the report, a
live bot's spec is cleared to send only when its connection's last report in this process is
healthy and shows no withdrawal permission; the runner then refuses at the send site on its own.
Live strategies are no longer idled by bot_sync: they get an order like paper ones.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from backfuture_daemon.bots.live_guard import live_epoch, orphans, refusal
from backfuture_daemon.bots.model import BotState, BotStatus
from backfuture_daemon.exchanges.port import OrderAck, OrderState, Side
from backfuture_daemon.health import ConnectionReport, ConnectionStatus, ErrorClass
from backfuture_daemon.reconciler.bot_sync import bot_orders, send_clearance
from tests.helpers.desired import conn, desired_state, strat

reports = st.builds(
    ConnectionReport,
    connection=st.just("MEXC Main"),
    exchange=st.just("mexc"),
    status=st.sampled_from(list(ConnectionStatus)),
    error_classes=st.lists(st.sampled_from(list(ErrorClass)), max_size=3).map(tuple),
    permissions=st.fixed_dictionaries(
        {
            "read": st.sampled_from([True, False, None]),
            "trade": st.sampled_from([True, False, None]),
            "withdraw": st.sampled_from([True, False, None]),
        }
    ),
)
states = st.sampled_from(list(BotState))


@given(report=st.none() | reports, state=states)
def test_a_live_spec_may_send_only_on_a_healthy_withdraw_free_report(
    report: ConnectionReport | None, state: BotState
) -> None:
    desired = desired_state([conn()], [strat(mode="live")])
    bots = [BotStatus("BTC Bot", "MEXC Main", state, "", 0.0, mode="live")]
    plan = bot_orders(desired, bots, {}, {"MEXC Main": report})
    (order,) = plan.orders
    spec = order.spec
    assert spec.mode == "live"
    cleared = (
        report is not None
        and report.healthy
        and report.permissions.get("withdraw") is not True
        and ErrorClass.WITHDRAW_ENABLED not in report.error_classes
    )
    assert spec.may_send is cleared
    assert (send_clearance(report) is None) is cleared
    # at the send site: refused exactly when not cleared, whatever the gate says
    assert (refusal(spec) is None) is cleared
    if not cleared:
        assert spec.send_block


def test_paper_is_never_refused_by_the_live_check() -> None:
    desired = desired_state([conn()], [strat()])
    bots = [BotStatus("BTC Bot", "MEXC Main", BotState.RUNNING, "", 0.0)]
    (order,) = bot_orders(desired, bots, {}, {}).orders
    assert order.spec.mode == "paper"
    assert refusal(order.spec) is None


def test_the_live_epoch_depends_on_the_connection_only_and_orphans_need_the_prefix() -> None:
    desired = desired_state([conn(), conn("Other", key="mx0vKEYbbbb2222")], [strat(mode="live")])
    bots = [BotStatus("BTC Bot", "MEXC Main", BotState.RUNNING, "", 0.0, mode="live")]
    (a,) = bot_orders(desired, bots, {}, {}).orders
    (b,) = bot_orders(desired, bots, {}, {}).orders
    assert live_epoch(a.spec) == live_epoch(b.spec)
    other = desired_state([conn("Other", key="mx0vKEYbbbb2222")], [strat(connection="Other",
                                                                         mode="live")])  # fmt: skip
    bots_other = [BotStatus("BTC Bot", "Other", BotState.RUNNING, "", 0.0, mode="live")]
    (c,) = bot_orders(other, bots_other, {}, {}).orders
    assert live_epoch(c.spec) != live_epoch(a.spec)

    def ack(cid: str) -> OrderAck:
        return OrderAck(cid, "1", "BTC/USDT", Side.BUY, OrderState.OPEN, 1, 0)  # type: ignore[arg-type]

    found = orphans([ack("bfabc-g1b0n1"), ack("bfabc-g2b0n1"), ack("zz-g1")], "bfabc-",
                    ["bfabc-g1b0n1"])  # fmt: skip
    assert found == ("bfabc-g2b0n1",)
