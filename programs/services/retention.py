"""Retention: customers inactive for ``RETENTION_INACTIVE_YEARS`` are anonymised by a
nightly job (``retention_run``), as a completed deletion request is
(``customers.privacy.customer_anonymize``): personal data removed, memberships closed,
ledger, purchases and redemptions kept, so balances and liabilities still add up.

Activity is the latest of:

* the customer record's creation (an import creates the record, so this is its date),
* joining a program (an enrolment by a partner or an import into a program),
* a portal login (``last_login`` of the customer's login),
* a purchase (``occurred_at``: when the customer shopped, not when the till reported it),
* a redemption (``created_at``).

These are the things a customer does, or that a partner does for them at their request;
e-mails we send, balances expiring, tier reviews and staff edits are not the customer's
activity and do not keep an account alive.

Customers with unspent points (a membership not closed with an available balance above
zero) and an e-mail address are told ``RETENTION_NOTICE_DAYS`` before: once per inactive
period (``Customer.retention_notice_at``; an activity after it starts a new period). They
are anonymised no earlier than ``RETENTION_NOTICE_DAYS`` after their notice, so that a
first run of the job never deletes points without warning. Customers who asked for
deletion get no notice. Staff users' own customer records are never selected; already
anonymised customers neither.

The selection is one query (``retention_due``); each customer is anonymised in its own
transaction after locking and checking again that it is still due, and a customer that
fails is logged with the reason and left for the next night while the run goes on.
"""

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import (
    BigIntegerField,
    BooleanField,
    DateTimeField,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from customers.models import Customer
from customers.privacy import customer_anonymize
from loyalty_site.core.audit import audit_record
from loyalty_site.core.batches import each_apply, failure_reason
from programs.models import Membership, MembershipStatus, Purchase, Redemption
from programs.notifications.models import NotificationKind
from programs.notifications.services import NotificationSpec, notifications_create_many

logger = logging.getLogger("programs.retention")

BATCH = 300  # customers per batch (notices: one transaction each; anonymising: one each)
RUN_LIMIT = 10_000  # customers anonymised per night at most; the next night takes the rest
REPORT_DAYS = 30
AUDIT_ACTION = "retention_anonymise"


def inactive_years() -> int:
    return settings.RETENTION_INACTIVE_YEARS


def notice_days() -> int:
    return settings.RETENTION_NOTICE_DAYS


def years_before(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year - years, day=28)


def years_after(moment: datetime, years: int) -> datetime:
    return years_before(moment, -years)


def customers_with_activity() -> QuerySet[Customer]:
    """Customers who may be anonymised (not yet anonymised, not staff), annotated with
    ``last_activity``, ``points`` (unspent, in memberships not closed) and ``noticed``
    (a retention notice went out after the last activity)."""
    memberships = Membership.objects.filter(customer=OuterRef("pk")).order_by()
    purchase = Purchase.objects.filter(membership__customer=OuterRef("pk")).order_by("-occurred_at")
    redemption = Redemption.objects.filter(membership__customer=OuterRef("pk")).order_by(
        "-created_at"
    )
    points = (
        memberships.exclude(status=MembershipStatus.CLOSED)
        .values("customer")
        .annotate(total=Sum("balance"))
        .values("total")
    )
    return (
        Customer.objects.filter(anonymized_at__isnull=True)
        .exclude(user__is_staff=True)
        .annotate(
            # PostgreSQL's GREATEST ignores NULLs: no login, purchase... counts as none
            last_activity=Greatest(
                "created_at",
                "user__last_login",
                Subquery(memberships.order_by("-joined_at").values("joined_at")[:1]),
                Subquery(purchase.values("occurred_at")[:1]),
                Subquery(redemption.values("created_at")[:1]),
                output_field=DateTimeField(),
            ),
            points=Coalesce(Subquery(points), Value(0), output_field=BigIntegerField()),
        )
        .annotate(
            noticed=ExpressionWrapper(
                Q(retention_notice_at__isnull=False)
                & Q(retention_notice_at__gte=F("last_activity")),
                output_field=BooleanField(),
            )
        )
    )


def _needs_notice() -> Q:
    return Q(points__gt=0) & ~Q(email="") & Q(deletion_requested_at__isnull=True)


def _due_by(moment: datetime, now: datetime) -> Q:
    """Due for anonymisation by ``moment`` (as the job run at ``moment`` will see it, if
    nothing happens until then and tonight's notices go out at ``now``)."""
    cutoff = years_before(moment, inactive_years())
    # created_at first: a cheap condition that spares the recent customers the subqueries
    inactive = Q(created_at__lte=cutoff) & Q(last_activity__lte=cutoff)
    notice_waited = Q(noticed=True, retention_notice_at__lte=moment - timedelta(days=notice_days()))
    allowed = ~_needs_notice() | notice_waited
    if moment - now >= timedelta(days=notice_days()):  # tonight's notices will have waited
        allowed |= Q(noticed=False)
    return inactive & allowed


def retention_due(now: datetime | None = None) -> QuerySet[Customer]:
    """The customers the job anonymises when it runs at ``now`` (one query)."""
    now = now or timezone.now()
    return customers_with_activity().filter(_due_by(now, now))


@dataclass(frozen=True)
class ReportRow:
    customer: Customer
    last_activity: datetime
    points: int
    delete_on: date


def retention_report(now: datetime | None = None, days: int = REPORT_DAYS) -> list[ReportRow]:
    """Who the job will anonymise within ``days`` (if they stay inactive), with their last
    activity, unspent points and the day, soonest first."""
    now = now or timezone.now()
    customers = (
        customers_with_activity()
        .filter(_due_by(now + timedelta(days=days), now))
        .select_related("user")
        .order_by("last_activity", "pk")
    )
    return [_report_row(customer, now) for customer in customers]


def _delete_on(customer: Customer, now: datetime) -> date:
    when = max(years_after(customer.last_activity, inactive_years()), now)
    if customer.points > 0 and customer.email and not customer.deletion_requested_at:
        noticed = customer.retention_notice_at if customer.noticed else now
        when = max(when, noticed + timedelta(days=notice_days()))
    return timezone.localdate(when)


def _report_row(customer: Customer, now: datetime) -> ReportRow:
    return ReportRow(customer, customer.last_activity, customer.points, _delete_on(customer, now))


# --- the notice -----------------------------------------------------------------------------


def retention_notices_send(now: datetime | None = None) -> int:
    """Tell customers with unspent points, by e-mail, that their account will be deleted
    for inactivity, ``RETENTION_NOTICE_DAYS`` before: once per inactive period. Returns
    the number of notices written (their e-mails go out after the commit)."""
    now = now or timezone.now()
    candidates = customers_with_activity().filter(_notice_due(now))
    ids = list(candidates.values_list("pk", flat=True))
    written = 0
    for start in range(0, len(ids), BATCH):
        written += _notices_write(ids[start : start + BATCH], now)
    return written


def _notice_due(now: datetime) -> Q:
    soon = now + timedelta(days=notice_days())
    cutoff = years_before(soon, inactive_years())
    inactive_soon = Q(created_at__lte=cutoff) & Q(last_activity__lte=cutoff)
    return inactive_soon & _needs_notice() & Q(noticed=False)


@transaction.atomic
def _notices_write(ids: list[int], now: datetime) -> int:
    customers = list(
        customers_with_activity()
        .filter(Q(pk__in=ids) & _notice_due(now))
        .select_for_update(of=("self",))
    )
    specs = [
        NotificationSpec(
            customer_id=customer.pk,
            kind=NotificationKind.RETENTION_NOTICE,
            cause_key=f"retention-notice:{customer.pk}:{customer.last_activity.isoformat()}",
            params={
                "points": customer.points,
                "delete_on": _delete_on(customer, now).isoformat(),
            },
        )
        for customer in customers
    ]
    written = notifications_create_many(specs, at=now)
    Customer.objects.filter(pk__in=[c.pk for c in customers]).update(retention_notice_at=now)
    return written


# --- the job ---------------------------------------------------------------------------------


@dataclass
class RetentionRun:
    noticed: int = 0
    anonymised: list[int] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)


def retention_run(now: datetime | None = None, limit: int = RUN_LIMIT) -> RetentionRun:
    """The nightly job: send tonight's notices, then anonymise the customers due, each in
    its own transaction; one that fails is logged and skipped, the others go on."""
    now = now or timezone.now()
    run = RetentionRun(noticed=retention_notices_send(now))
    ids = list(retention_due(now).order_by("pk").values_list("pk", flat=True)[:limit])

    def apply(pk: int) -> None:
        if _anonymise(pk, now):
            run.anonymised.append(pk)

    def park(pk: int, exc: Exception) -> None:
        run.failed.append((pk, failure_reason(exc)))

    for start in range(0, len(ids), BATCH):
        each_apply(ids[start : start + BATCH], apply, park)
    if run.anonymised or run.failed:
        logger.info(
            "retention: %d anonymised, %d failed, %d notices",
            len(run.anonymised),
            len(run.failed),
            run.noticed,
        )
    return run


@transaction.atomic
def _anonymise(pk: int, now: datetime) -> bool:
    """Anonymise one customer if still due once locked (a login or a purchase since the
    selection keeps them). Returns whether it was anonymised."""
    customer = Customer.objects.select_for_update().get(pk=pk)
    due = retention_due(now).filter(pk=pk).values_list("last_activity", flat=True).first()
    if due is None:
        return False
    customer_anonymize(customer=customer, user=None)
    audit_record(
        user=None,
        action=AUDIT_ACTION,
        model="customers.customer",
        object_id=pk,
        object_repr=f"#{pk}",
        note=(
            f"Personal data deleted after {inactive_years()} years without activity "
            f"(last activity {due.date().isoformat()})."
        ),
        customer_id=pk,
    )
    return True
