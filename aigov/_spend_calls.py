"""Resolution and spend calls of ``Governance`` (SPEC §7, §8): the host's enforcement path."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from uuid import UUID

from aigov._validation import as_uuid
from aigov.actor import Actor
from aigov.cost import TokenUsage, cost_of
from aigov.exceptions import (
    ConflictError,
    InvalidInputError,
    UnknownPriceError,
)
from aigov.periods import PeriodWindow, check_instant, utc_day
from aigov.ports import UnitOfWork
from aigov.prices import (
    ModelKey,
    effective_prices,
)
from aigov.resolution import EffectiveBudget
from aigov.spend import (
    BudgetAndSpend,
    HoldRequest,
    Reservation,
    SpendStatus,
    ThresholdCrossed,
    UsageRecord,
    budget_exceeded,
    check_replay,
    crossed_thresholds,
    spend_status_of,
    usage_record,
)

__all__ = ["SpendCalls"]

from aigov._service import (  # the facade's private helpers, shared by its parts
    Call,
    Service,
    StoreCall,
    _amount_micros,
    _check_actor,
    _found,
    _idempotency_key,
    _model_key,
    _no_group,
    _page_size,
    _token_usage,
)
from aigov.authorization import Need


class SpendCalls(Service):
    def current_period(self) -> Call[PeriodWindow]:
        """The period the spend calls and reports use now (SPEC §8.0): this facade's clock and
        settings, as they would decide it at this instant."""
        yield from ()  # the settings and the clock answer: no store step
        return self._period_of(self._now())

    # -- budget resolution -----------------------------------------------------------------------

    def effective_budget(self, user_id: UUID | str) -> Call[EffectiveBudget]:
        """The limit that applies to the user now, the group their spend is attributed to, and
        where the limit came from (SPEC §7). NotFoundError for an unknown user. One store
        operation, as ``spend_status`` (on PostgreSQL one prepared statement)."""
        yield from self._require_feature()
        key = as_uuid(user_id, "user_id")
        now = self._now()
        found = yield from self._budget_and_spend(key, self._period_of(now).start, now)
        return _found(found, "user", key).effective

    # -- spend -----------------------------------------------------------------------------------

    def spend_status(self, actor: Actor, user_id: UUID | str) -> Call[SpendStatus]:
        """Where the user stands in the current period (SPEC §9): limit and source, effective
        group, period window, spent, held (live holds only) and remaining. Needs read user U."""
        yield from self._require_feature()
        user = as_uuid(user_id, "user_id")
        _check_actor(actor)
        now = self._now()
        window = self._period_of(now)
        yield from self._authorize_reading(actor, "read the spend of", Need("read_user", user))
        found = yield from self._budget_and_spend(user, window.start, now)
        return spend_status_of(user, _found(found, "user", user), window)

    def _budget_and_spend(
        self, user: UUID, period_start: datetime, now: datetime
    ) -> Call[BudgetAndSpend | None]:
        policy = self._settings.budget_policy
        return (
            yield from StoreCall(
                lambda store: store.budget_and_spend(user, period_start, now, policy),
                lambda store: store.abudget_and_spend(user, period_start, now, policy),
            )
        )

    def record_usage(
        self,
        user_id: UUID | str,
        provider: str,
        model: str,
        usage: TokenUsage | Mapping[str, int],
        *,
        at: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> Call[UsageRecord]:
        """Record what a request used (SPEC §8.2): priced with the price in effect (snapshotted
        on the record), attributed to the user's effective group, added to the day's ledger and
        the period's counter, all in one transaction. A model without a known price is still
        recorded, its cost incomplete. The same ``idempotency_key`` again returns the original
        record with the same payload, and is ConflictError with another. NotFoundError for an
        unknown user, or one in no organization (there is no group to attribute spend to)."""
        yield from self._require_feature()
        user = as_uuid(user_id, "user_id")
        key = _model_key(provider, model)
        tokens = usage if isinstance(usage, TokenUsage) else _token_usage(usage)
        instant = check_instant(self._now() if at is None else at, "at")
        replay_key = None if idempotency_key is None else _idempotency_key(idempotency_key)
        record_id = self._ids()

        def work(uow: UnitOfWork) -> UsageRecord:
            if replay_key is not None:
                uow.audit.lock_resource("usage", f"{user} {replay_key}")
                existing = uow.spend.find_usage(user, replay_key)
                if existing is not None:
                    return check_replay(existing, key[0], key[1], tokens)
            return self._usage_record(
                uow,
                user=user,
                key=key,
                tokens=tokens,
                instant=instant,
                record_id=record_id,
                idempotency_key=replay_key,
            )

        # Without a key a retry could not tell a lost first attempt from a second usage.
        return (yield from self._run(work, idempotent=replay_key is not None))

    def _usage_record(
        self,
        uow: UnitOfWork,
        *,
        user: UUID,
        key: ModelKey,
        tokens: TokenUsage,
        instant: datetime,
        record_id: UUID,
        idempotency_key: str | None = None,
        reservation: Reservation | None = None,
    ) -> UsageRecord:
        """Price, attribute and record one usage in ``uow`` (the heart of SPEC §8.2)."""
        effective, group = self._spending_group(uow, user)
        prices = effective_prices(uow.prices.list_model_prices(provider=key[0], model=key[1]))
        price = prices[0] if prices else None
        organization = _found(uow.directory.get_group(group), "group", group).organization_id
        record = usage_record(
            record_id=record_id,
            user_id=user,
            group_id=group,
            organization_id=organization,
            provider=key[0],
            model=key[1],
            usage=tokens,
            price=price,
            cost=cost_of(tokens, price),
            at=instant,
            day=utc_day(instant),
            period_start=self._period_of(instant).start,
            idempotency_key=idempotency_key,
            reservation=reservation,
        )
        spent = uow.spend.record_usage(record)
        crossed = crossed_thresholds(
            self._settings.thresholds,
            effective.spend_limit_micros,
            spent - record.cost_micros,
            spent,
        )
        events = [
            ThresholdCrossed(
                id=self._ids(),
                user_id=user,
                group_id=group,
                period_start=record.period_start,
                percent=percent,
                limit_micros=effective.spend_limit_micros or 0,
                spent_micros=spent,
                at=instant,
            )
            for percent in crossed
        ]
        kept = uow.spend.add_budget_events(events)
        return record.model_copy(update={"threshold_events": tuple(kept)})

    def pending_budget_events(self, *, limit: int = 100) -> Call[Sequence[ThresholdCrossed]]:
        """Threshold events not yet acknowledged, oldest first (SPEC §8.4): send each
        notification, then acknowledge it, so that it is sent once even across retries."""
        yield from self._require_feature()
        count = _page_size(limit, at_most=1000)
        return (yield from self._run(lambda uow: uow.spend.pending_budget_events(count)))

    def ack_budget_events(self, ids: Iterable[UUID | str]) -> Call[int]:
        """Acknowledge threshold events; return how many were pending (unknown ids count 0)."""
        yield from self._require_feature()
        if isinstance(ids, str) or not isinstance(ids, Iterable):
            raise InvalidInputError("ids must be a collection of event ids")
        keys = [as_uuid(event_id, "event id") for event_id in ids]
        return (yield from self._run(lambda uow: uow.spend.ack_budget_events(keys)))

    def reserve(
        self, user_id: UUID | str, amount_micros: int, *, ttl: timedelta = timedelta(minutes=10)
    ) -> Call[Reservation]:
        """Hold ``amount_micros`` of the user's budget for the current period, if
        ``spent + held + amount <= limit`` (SPEC §8.3): atomically, so that concurrent callers
        from any number of processes never hold more than the limit allows. With no limit it is
        always granted; with a limit of 0 never. BudgetExceededError when it does not fit. The
        hold stops counting at ``now + ttl``."""
        yield from self._require_feature()
        user = as_uuid(user_id, "user_id")
        amount = _amount_micros(amount_micros, "amount_micros")
        if amount == 0:
            raise InvalidInputError("amount_micros must be more than 0")
        if not isinstance(ttl, timedelta) or ttl <= timedelta(0):
            raise InvalidInputError(f"ttl must be a positive timedelta, not {ttl!r}")
        now = self._now()
        request = HoldRequest(
            id=self._ids(),
            user_id=user,
            period_start=self._period_of(now).start,
            amount_micros=amount,
            expires_at=check_instant(now + ttl, "the hold's expiry"),
            created_at=now,
        )
        # A TransientError rolled the whole operation back, and the hold's id is fixed: trying
        # again cannot make a second hold.
        policy = self._settings.budget_policy
        outcome = _found(
            (
                yield from StoreCall(
                    lambda store: store.reserve_if_fits(request, policy),
                    lambda store: store.areserve_if_fits(request, policy),
                )
            ),
            "user",
            user,
        )
        effective = outcome.effective
        if effective.group_id is None:
            raise _no_group(user)
        if outcome.reservation is None:
            assert effective.spend_limit_micros is not None
            raise budget_exceeded(
                limit=effective.spend_limit_micros,
                spent=outcome.spent_micros,
                held=outcome.held_micros,
                amount=amount,
                group_id=effective.group_id,
            )
        return outcome.reservation

    def reserve_for(
        self,
        user_id: UUID | str,
        provider: str,
        model: str,
        usage: TokenUsage | Mapping[str, int],
        *,
        ttl: timedelta = timedelta(minutes=10),
    ) -> Call[Reservation]:
        """Reserve the priced expected usage of a request. A model without a known price for a
        kind used is UnknownPriceError (``unknown_price_policy="deny"``, the default), or
        reserves the priced part (``"allow"``). An estimate of 0 is InvalidInputError."""
        yield from self._require_feature()
        key = _model_key(provider, model)
        tokens = usage if isinstance(usage, TokenUsage) else _token_usage(usage)
        prices = effective_prices(
            (
                yield from self._run(
                    lambda uow: uow.prices.list_model_prices(provider=key[0], model=key[1])
                )
            )
        )
        estimate = cost_of(tokens, prices[0] if prices else None)
        if estimate.incomplete and self._settings.unknown_price_policy == "deny":
            raise UnknownPriceError(
                f"{key[0]}/{key[1]} has no known price for {', '.join(estimate.unpriced_kinds)}",
                provider=key[0],
                model=key[1],
            )
        if estimate.micros == 0:
            raise InvalidInputError(f"the expected usage of {key[0]}/{key[1]} costs nothing")
        return (yield from self.reserve(user_id, estimate.micros, ttl=ttl))

    def settle(
        self,
        reservation_id: UUID | str,
        provider: str,
        model: str,
        usage: TokenUsage | Mapping[str, int],
        *,
        at: datetime | None = None,
    ) -> Call[UsageRecord]:
        """Record the actual usage of a reserved request and free its hold (SPEC §8.3). Spend
        goes to the effective group and period at settle time, in full (``overrun_micros`` says
        how much it passed the hold); the hold is freed from the counter it was taken on.
        Settling again returns the first record; after ``release`` it is ConflictError; an
        unknown reservation is NotFoundError. Settling after expiry still records the usage."""
        yield from self._require_feature()
        key_id = as_uuid(reservation_id, "reservation_id")
        key = _model_key(provider, model)
        tokens = usage if isinstance(usage, TokenUsage) else _token_usage(usage)
        instant = check_instant(self._now() if at is None else at, "at")
        record_id = self._ids()

        def work(uow: UnitOfWork) -> UsageRecord:
            reservation = _found(uow.spend.lock_reservation(key_id), "reservation", key_id)
            if reservation.state == "settled":
                return _found(uow.spend.find_usage_of_reservation(key_id), "usage", key_id)
            if reservation.state == "released":
                raise ConflictError(f"reservation {key_id} was released; it cannot be settled")
            record = self._usage_record(
                uow,
                user=reservation.user_id,
                key=key,
                tokens=tokens,
                instant=instant,
                record_id=record_id,
                reservation=reservation,
            )
            uow.spend.end_reservation(reservation, "settled")
            return record

        return (yield from self._run(work))

    def release(self, reservation_id: UUID | str) -> Call[Reservation]:
        """Free a hold without recording spend; releasing again changes nothing. A settled
        reservation cannot be released (ConflictError); an unknown one is NotFoundError."""
        yield from self._require_feature()
        key_id = as_uuid(reservation_id, "reservation_id")

        def work(uow: UnitOfWork) -> Reservation:
            reservation = _found(uow.spend.lock_reservation(key_id), "reservation", key_id)
            if reservation.state == "settled":
                raise ConflictError(f"reservation {key_id} was settled; it cannot be released")
            if reservation.state != "released":
                uow.spend.end_reservation(reservation, "released")
            return reservation.model_copy(update={"state": "released"})

        return (yield from self._run(work))
