"""The delivery outbox: rows that stand for a message to send (a webhook, an e-mail), and
the one way they are claimed, attempted, retried and given up.

An ``Outbox`` names the model, the columns (state, attempts, next attempt, last error)
and the policy (lease, backoff, attempts). ``Outbox.send`` claims a chunk of due rows
with ``FOR UPDATE SKIP LOCKED`` and leases them (a crashed worker's rows come back when
the lease runs out), hands each to the channel's own sending code outside any
transaction, and records each outcome as it happens: delivered, retried after an
exponential backoff with a cap, or given up with the reason after the last attempt. The
sweepers ask ``due``; staff ``resend``. Rows the chunk did not reach are given back.
"""

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, models, transaction
from django.db.models import F, Q
from django.utils import timezone

from loyalty_site.core.batches import TRANSIENT, failure_reason

logger = logging.getLogger("loyalty_site.outbox")

ERROR_LENGTH = 500


@dataclass(frozen=True)
class Attempt:
    """What a channel's sending code reports for one row. ``error`` empty: delivered.
    ``values``: the channel's own columns, written with the outcome. ``state``: a final
    state of the channel's own instead (an e-mail skipped), with ``error`` as its reason.
    ``retry=False``: a failure not worth trying again (the receiver is gone)."""

    error: str = ""
    values: Mapping[str, Any] = field(default_factory=dict)
    state: str | None = None
    retry: bool = True


@dataclass(frozen=True)
class Outcome:
    """A row's state after an attempt; ``retry_in`` when it will be tried again."""

    state: str
    retry_in: timedelta | None = None


def column_names(prefix: str) -> dict[str, str]:
    """The delivery columns of a model that names them ``<prefix>state`` and so on."""
    names = ("state", "attempts", "next_attempt_at", "last_error")
    return {name: f"{prefix}{name}" for name in names}


@dataclass(frozen=True)
class Outbox:
    """One outbox: the model and its delivery columns, the states, and the policy (the
    defaults suit e-mail: a 10-minute lease for a chunk, 1 min doubling to a 2 h cap,
    given up after 8 attempts, about 4 hours after the first).

    ``condition(now)``: what else a row needs to be due (an invitation still open).
    A final state clears the next attempt where the column allows it."""

    name: str
    model: type[models.Model]
    state: str = "state"
    attempts: str = "attempts"
    next_attempt_at: str = "next_attempt_at"
    last_error: str = "last_error"
    pending: str = "pending"
    done: str = "sent"
    failed: str = "failed"
    lease: timedelta = timedelta(minutes=10)
    first_retry: timedelta = timedelta(minutes=1)
    max_retry: timedelta = timedelta(hours=2)
    max_attempts: int = 8
    condition: Callable[[datetime], Q] | None = None

    def retry_delay(self, attempts: int) -> timedelta:
        """``first_retry`` after the first attempt, doubling, at most ``max_retry``."""
        return min(self.first_retry * 2 ** max(0, attempts - 1), self.max_retry)

    def due_filter(self, now: datetime) -> Q:
        due = Q(**{self.state: self.pending, f"{self.next_attempt_at}__lte": now})
        return due & self.condition(now) if self.condition else due

    def due(self, now: datetime | None = None, limit: int = 5000) -> list[int]:
        """The ids of rows due now, the longest-waiting first: what the sweepers enqueue."""
        return list(
            self.model.objects.filter(self.due_filter(now or timezone.now()))
            .order_by(self.next_attempt_at, "pk")
            .values_list("pk", flat=True)[:limit]
        )

    def claim(self, ids: Iterable[int], now: datetime) -> list[int]:
        """Lease the due ones of ``ids`` until ``now + lease`` and count their attempt;
        rows another worker holds are skipped, and once leased they are due for no one."""
        with transaction.atomic():
            claimed = list(
                self.model.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(self.due_filter(now), pk__in=list(ids))
                .values_list("pk", flat=True)
            )
            if claimed:
                self.model.objects.filter(pk__in=claimed).update(
                    **{
                        self.next_attempt_at: now + self.lease,
                        self.attempts: F(self.attempts) + 1,
                    }
                )
        return claimed

    def release(self, ids: list[int], now: datetime) -> None:
        """Give back leased rows that were not attempted: due again at once, the attempt
        not counted."""
        self.model.objects.filter(
            pk__in=ids, **{self.state: self.pending, f"{self.attempts}__gt": 0}
        ).update(**{self.next_attempt_at: now, self.attempts: F(self.attempts) - 1})

    def send(
        self,
        ids: Iterable[int],
        attempt: Callable[[Any], Attempt],
        now: datetime | None = None,
        load: Callable[[list[int]], Mapping[int, Any]] | None = None,
    ) -> list[tuple[int, Outcome]]:
        """Claim the due ones of ``ids``, ``load`` them (``in_bulk`` by default), call
        ``attempt`` for each in the order asked, once each, and record its outcome. A row
        whose attempt or outcome raises is given up with the reason, and the others go
        on; transient errors (the database, the task's time limit) stop the chunk, and
        the rows not reached are given back. Returns the outcome of each row attempted."""
        now = now or timezone.now()
        ids = list(dict.fromkeys(ids))
        claimed = self.claim(ids, now)
        if not claimed:
            return []
        rows = (load or self.model.objects.in_bulk)(claimed)
        order = [pk for pk in ids if pk in rows]
        outcomes: list[tuple[int, Outcome]] = []
        try:
            for pk in order:
                try:
                    outcome = self.record(rows[pk], attempt(rows[pk]), now)
                except TRANSIENT:
                    raise
                except Exception as exc:
                    logger.exception("%s %s: gave up, the attempt failed", self.name, pk)
                    outcome = self.give_up(pk, failure_reason(exc))
                outcomes.append((pk, outcome))
        finally:
            attempted = {pk for pk, _outcome in outcomes}
            left = [pk for pk in claimed if pk not in attempted]
            if left:
                self.release(left, now)
        return outcomes

    def record(self, row: models.Model, result: Attempt, now: datetime) -> Outcome:
        """Write the outcome of ``row``'s attempt (its attempt already counted by the
        claim): delivered, a final state of the channel's, retried after the backoff, or
        failed for good after ``max_attempts`` or when not worth retrying."""
        attempts = getattr(row, self.attempts)
        error = result.error[:ERROR_LENGTH]
        retry_in = None
        if result.state is not None:
            state = result.state
        elif not result.error:
            state = self.done
        elif result.retry and attempts < self.max_attempts:
            state, retry_in = self.pending, self.retry_delay(attempts)
        else:
            state = self.failed
        values = {self.state: state, self.last_error: error}
        if retry_in is not None:
            values[self.next_attempt_at] = now + retry_in
            logger.warning(
                "%s %s: attempt %d failed, retry in %s: %s",
                self.name,
                row.pk,
                attempts,
                retry_in,
                error,
            )
        elif self.model._meta.get_field(self.next_attempt_at).null:
            values[self.next_attempt_at] = None
        if state == self.failed:
            logger.error(
                "%s %s: failed for good after %d attempts: %s", self.name, row.pk, attempts, error
            )
        self.write(row.pk, {**values, **result.values})
        return Outcome(state, retry_in)

    def write(self, pk: int, values: Mapping[str, Any]) -> None:
        """Write one row's outcome in a transaction of its own that commits without
        waiting for the WAL flush: a burst of deliveries otherwise keeps the worker
        waiting on the disk. A database crash can lose the last fraction of a second of
        outcomes, after which a message may be sent again, as a crash between sending and
        recording does anyway. One round trip: ``SET LOCAL`` and the UPDATE sent as one
        query are one implicit transaction, so the setting ends with it (Django's cursor
        binds parameters on the client, which allows several statements). Inside a
        caller's transaction (tests) the UPDATE goes alone: there ``SET LOCAL`` would last
        until the caller's commit."""
        if connection.in_atomic_block:
            self.model.objects.filter(pk=pk).update(**values)
            return
        opts, quote = self.model._meta, connection.ops.quote_name
        fields = {name: opts.get_field(name) for name in values}
        assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields.values())
        params = [
            field.get_db_prep_save(values[name], connection) for name, field in fields.items()
        ]
        table, key = quote(opts.db_table), quote(opts.pk.column)
        # names from the model, values as parameters
        update = f"UPDATE {table} SET {assignments} WHERE {key} = %s"  # noqa: S608
        sql = f"SET LOCAL synchronous_commit = off; {update}"
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, pk])

    def give_up(self, pk: int, reason: str) -> Outcome:
        """Fail a row at once, with the reason (a broken row that cannot be attempted),
        so that it is not leased and tried again forever; staff may resend it."""
        values = {self.state: self.failed, self.last_error: reason[:ERROR_LENGTH]}
        if self.model._meta.get_field(self.next_attempt_at).null:
            values[self.next_attempt_at] = None
        self.model.objects.filter(pk=pk).update(**values)
        return Outcome(self.failed)

    def resend(self, ids: Iterable[int], **values) -> int:
        """Staff queue these rows again, whatever their state: due now, with a fresh
        series of attempts. ``values``: the channel's own columns to reset. Returns how
        many rows there were; the caller enqueues them after the commit."""
        return self.model.objects.filter(pk__in=list(ids)).update(
            **{
                self.state: self.pending,
                self.attempts: 0,
                self.last_error: "",
                self.next_attempt_at: timezone.now(),
                **values,
            }
        )
