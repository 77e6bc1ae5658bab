"""The DCA engine: `decide(params, book, quotes, gate, now)` -> the order commands to issue now.

Pure and deterministic: the same inputs give the same Decision, and `Decision.book` already
reflects the commands, so deciding again on it issues nothing new. The margin limit is a hard cap:
no Place takes the book's committed quote above it. Called by the bots runner on every tick; the
runner sends `commands` in order (cancels of a group before its places) and reports fills back.
One code path for both directions: each group's `Direction` (strategy/direction.py) says which
side opens, which closes and where adverse lies, so a short group mirrors a long one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Context, Decimal, localcontext

from backfuture_daemon.strategy.adds import wanted_adds
from backfuture_daemon.strategy.direction import direction
from backfuture_daemon.strategy.groups import Group, GroupBook, OrderState, RestingOrder
from backfuture_daemon.strategy.orders import (
    Cancel,
    OrderCommand,
    OrderSide,
    OrderType,
    Place,
    Purpose,
    Skip,
    SkipReason,
)
from backfuture_daemon.strategy.params import HUNDRED, DcaParams, Gate, OnStop, Quote
from backfuture_daemon.strategy.recovery import (
    enters_recovery,
    stop_loss_hit,
    take_profit_price,
)
from backfuture_daemon.strategy.status import GroupStatus, group_status

#: fixed arithmetic context, so results never depend on the caller's decimal settings.
_CONTEXT = Context(prec=34)


@dataclass(frozen=True, slots=True)
class Decision:
    commands: tuple[OrderCommand, ...]
    #: the input book with the commands reflected (Places resting, Cancels pending) and any
    #: recovery entry or dust close recorded: persist it before sending the commands.
    book: GroupBook
    groups: tuple[GroupStatus, ...]
    skipped: tuple[Skip, ...]
    committed_quote: Decimal
    margin_limit: Decimal


def decide(
    params: DcaParams, book: GroupBook, quotes: Mapping[str, Quote], gate: Gate, now: float
) -> Decision:
    with localcontext(_CONTEXT):
        run = _Run(params, book, quotes, gate, now)
        if gate is not Gate.PAUSE:
            run.execute()
        return run.decision()


class _Run:
    """One decide call's working state (local and discarded: decide stays pure)."""

    def __init__(
        self,
        params: DcaParams,
        book: GroupBook,
        quotes: Mapping[str, Quote],
        gate: Gate,
        now: float,
    ) -> None:
        self.p, self.book, self.quotes, self.gate, self.now = params, book, quotes, gate, now
        self.commands: list[OrderCommand] = []
        self.skips: list[Skip] = []

    # -- plumbing -------------------------------------------------------------------------------

    def decision(self) -> Decision:
        return Decision(
            commands=tuple(self.commands),
            book=self.book,
            groups=tuple(group_status(g, self.p, self.now) for g in self.book.groups),
            skipped=tuple(self.skips),
            committed_quote=self.book.committed_quote,
            margin_limit=self.p.margin_limit,
        )

    def _emit(self, command: OrderCommand) -> None:
        self.commands.append(command)
        self.book = self.book.apply(command)

    def _cancel(self, g: Group, order: RestingOrder, reason: str) -> None:
        if order.state is OrderState.OPEN:
            self._emit(Cancel(order.key, g.pair, reason))

    def _place(
        self,
        group_id: int,
        purpose: Purpose,
        step: int,
        side: OrderSide,
        amount: Decimal,
        price: Decimal | None,
        note: str,
    ) -> None:
        g = self.book.group(group_id)
        kind = OrderType.MARKET if price is None else OrderType.LIMIT
        self._emit(Place(g.next_key(purpose, step), g.pair, side, kind, amount, price, note))

    def _skip(
        self, g: Group | None, pair: str, purpose: Purpose, step: int, why: SkipReason, detail: str
    ) -> None:
        self.skips.append(Skip(pair, purpose, step, why, detail, g.id if g else None))

    def _fits(self, reserve: Decimal) -> bool:
        return self.book.committed_quote + reserve <= self.p.margin_limit

    # -- the decision ---------------------------------------------------------------------------

    def execute(self) -> None:
        for group_id in sorted(g.id for g in self.book.groups):
            self._manage(group_id)
        if self.gate in (Gate.RUN, Gate.CLOSE_ONLY):
            self._trim_to_cap()
        if self.gate is Gate.RUN:
            self._open_groups()

    def _manage(self, group_id: int) -> None:
        g = self.book.group(group_id)
        if self.gate is Gate.STOP:
            cancel_all = self.p.on_stop is OnStop.CANCEL_ALL
            for o in g.open_orders():
                if cancel_all or o.side is g.direction.entry:
                    self._cancel(g, o, "bot stopped")
            if cancel_all:
                return
            g = self.book.group(group_id)
        q = self.quotes.get(g.pair)
        if q is None:
            self._skip(g, g.pair, Purpose.TAKE_PROFIT, 0, SkipReason.NO_QUOTE, "no market quote")
            return
        d = g.direction
        if g.amount > 0 and not g.in_recovery:
            reason = enters_recovery(g, self.p, d.exit_price(q))
            if reason is not None:
                g = replace(g, recovery_reason=reason, recovery_since=self.now)
                self.book = self.book.with_group(g)
        if g.done:
            for o in g.open_orders():
                self._cancel(g, o, "group closed")
            return
        if any(o.key.purpose is Purpose.STOP for o in g.orders):
            return  # a stop-loss sell is under way: nothing else until it settles
        for o in g.open_orders(Purpose.BASE):
            if o.price is not None and d.worse(o.price, d.entry_price(q)):
                # no longer marketable (the price ran away): drop it; once the exchange confirms,
                # an unfilled group leaves the book and the next decide opens one at the new price
                book_side = "ask" if d.long else "bid"
                self._cancel(
                    g, o, f"base order no longer marketable ({book_side} {d.entry_price(q)})"
                )
        if g.amount > 0 and stop_loss_hit(g, d.exit_price(q)):
            self._stop_loss(g, q)
            return
        if self.gate is Gate.RUN:
            mark = (self.book, len(self.commands), len(self.skips))
            self._adds(g, q)
            g = self.book.group(group_id)
            reason = None if g.in_recovery else enters_recovery(g, self.p, d.exit_price(q))
            if reason is not None:
                # The adds just planned push the group over the margin trigger: plan again in
                # recovery now, so the next decide on this book does not change its mind.
                self.book, n_commands, n_skips = mark
                del self.commands[n_commands:], self.skips[n_skips:]
                g = replace(self.book.group(group_id), recovery_reason=reason)
                g = replace(g, recovery_since=self.now)
                self.book = self.book.with_group(g)
                self._adds(g, q)
        self._take_profit(self.book.group(group_id), q)

    def _stop_loss(self, g: Group, q: Quote) -> None:
        for o in g.open_orders():
            self._cancel(g, o, "stop loss")
        d = g.direction
        amount = q.rules.amount_down(g.amount)
        why = q.rules.below_minimum(amount, d.exit_price(q))
        if why:
            self._skip(g, g.pair, Purpose.STOP, 0, SkipReason.BELOW_MINIMUM, why)
            return
        if d.long:
            note = f"stop loss: bid {q.bid} ≤ {g.sizing.stop_loss_pct} % below the average"
        else:
            note = f"stop loss: ask {q.ask} ≥ {g.sizing.stop_loss_pct} % above the average"
        self._place(g.id, Purpose.STOP, 0, d.exit, amount, None, note)

    def _adds(self, g: Group, q: Quote) -> None:
        desired, skips = wanted_adds(g, self.p, q.rules)
        self.skips.extend(skips)
        partial = [o for o in g.open_orders(Purpose.ADD) if o.key.step < g.next_add_step]
        wanted = {(d.step, d.price, d.amount) for d in desired}
        resting = set()
        for o in g.open_orders(Purpose.ADD):
            if o in partial:
                continue
            if (o.key.step, o.price, o.placed_amount) in wanted:
                resting.add(o.key.step)
            else:
                self._cancel(g, o, "add no longer wanted at this price/size")
        for d in desired:
            step, price, amount = d.step, d.price, d.amount
            if step in resting:
                continue
            if not self._fits(price * amount):
                self._skip(
                    g,
                    g.pair,
                    Purpose.ADD,
                    step,
                    SkipReason.MARGIN_CAP,
                    self._cap_detail(price * amount),
                )
                break
            self._place(g.id, Purpose.ADD, step, g.direction.entry, amount, price, d.note)

    def _take_profit(self, g: Group, q: Quote) -> None:
        if g.amount <= 0:
            return
        rules = q.rules
        price = take_profit_price(g, self.p, rules)
        amount = rules.amount_down(g.amount)
        why = rules.below_minimum(amount, price)
        tps = g.open_orders(Purpose.TAKE_PROFIT)
        if any(o.price == price and o.amount == amount for o in tps):
            return  # (a partly filled one included: the exchange holds its remainder)
        for o in tps:
            self._cancel(g, o, f"take profit moves to {price} x {amount}")
        if why:
            if g.sold_amount > 0:  # what a take profit left behind cannot be sold: dust
                if not self.book.group(g.id).orders:
                    self.book = self.book.close_dust(g.id)
                else:
                    for o in self.book.group(g.id).open_orders():
                        self._cancel(g, o, "group closed (dust left)")
                return
            self._skip(g, g.pair, Purpose.TAKE_PROFIT, g.adds_used, SkipReason.BELOW_MINIMUM, why)
            return
        mode = "recovery " if g.in_recovery else ""
        d = g.direction
        note = f"{mode}take profit {d.favour_word} the average {g.average_price:.8f}"
        self._place(g.id, Purpose.TAKE_PROFIT, g.adds_used, d.exit, amount, price, note)

    def _trim_to_cap(self) -> None:
        """A lowered margin limit: cancel resting adds, farthest first, until the book fits."""
        pending = sum(
            (
                g.reserve_of(o)
                for g in self.book.groups
                for o in g.orders
                if o.state is OrderState.CANCELLING
            ),
            Decimal(0),
        )
        excess = self.book.committed_quote - pending - self.p.margin_limit
        adds = sorted(
            (
                (o.key.step, -g.id, g.id, o)
                for g in self.book.groups
                for o in g.open_orders(Purpose.ADD)
            ),
            key=lambda t: (t[0], t[1]),
            reverse=True,
        )
        for _, _, group_id, o in adds:
            if excess <= 0:
                break
            g = self.book.group(group_id)
            self._cancel(g, o, "margin limit lowered")
            excess -= g.reserve_of(o)

    def _open_groups(self) -> None:
        # A short's entry may fill up to the bid it meets, above its limit: what the book does
        # not reserve for the entries placed here is counted against the cap for the next ones.
        slack = Decimal(0)
        for pair in self.p.pairs:
            existing = self.book.group_on(pair)
            if existing is not None:
                if existing.in_recovery:
                    self._skip(
                        existing,
                        pair,
                        Purpose.BASE,
                        0,
                        SkipReason.PAIR_IN_RECOVERY,
                        f"group {existing.id} on {pair} is in recovery",
                    )
                continue
            if len(self.book.groups) >= self.p.max_active_groups:
                self._skip(
                    None,
                    pair,
                    Purpose.BASE,
                    0,
                    SkipReason.MAX_ACTIVE_GROUPS,
                    f"{self.p.max_active_groups} groups active",
                )
                continue
            q = self.quotes.get(pair)
            if q is None:
                self._skip(None, pair, Purpose.BASE, 0, SkipReason.NO_QUOTE, "no market quote")
                continue
            rules = q.rules
            d = direction(self.p.side)
            slip = self.p.entry_slippage_pct
            if d.long:
                # marketable: the slippage allowance rounded down, but never under the ask
                limit = rules.price_down(q.ask * (1 + slip / HUNDRED))
                price = max(limit, rules.price_up(q.ask))
            else:
                # mirrored: the allowance below the bid rounded up, but never over the bid
                limit = rules.price_up(q.bid * (1 - slip / HUNDRED))
                price = min(limit, rules.price_down(q.bid))
            # A buy fills at its limit or lower, so sizing at the limit bounds its cost; a sell
            # fills at its limit or higher (up to the bid it meets), so a short is sized at the bid.
            sized_at = price if d.long else max(price, q.bid)
            amount = rules.amount_down(self.p.sizing.base_order_quote / sized_at)
            why = rules.below_minimum(amount, price)
            if why:
                self._skip(None, pair, Purpose.BASE, 0, SkipReason.BELOW_MINIMUM, why)
                continue
            if not self._fits(sized_at * amount + slack):
                self._skip(
                    None,
                    pair,
                    Purpose.BASE,
                    0,
                    SkipReason.MARGIN_CAP,
                    self._cap_detail(sized_at * amount + slack),
                )
                continue
            slack += (sized_at - price) * amount
            self.book, g = self.book.open_group(pair, self.p.sizing, self.now, self.p.side)
            if d.long:
                note = f"base order: marketable limit {slip} % above ask {q.ask}"
            else:
                note = f"base order: marketable limit {slip} % below bid {q.bid}"
            self._place(g.id, Purpose.BASE, 0, d.entry, amount, price, note)

    def _cap_detail(self, reserve: Decimal) -> str:
        return (
            f"committed {self.book.committed_quote:.2f} + {reserve:.2f} would exceed the "
            f"margin limit {self.p.margin_limit}"
        )
