"""Portal activity that feeds the engagement score. The portal calls
``customer_activity_record(customer, kind)`` on a login or a visit (once per session
is plenty); it keeps one counter per customer, day and kind."""

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from customers.models import Customer
from surveys.engagement.models import ActivityKind, PortalActivityDay


def customer_activity_record(
    customer: Customer, kind: str = ActivityKind.VISIT, *, at=None
) -> None:
    if kind not in ActivityKind.values:
        raise ValueError(f"activity kind must be one of {ActivityKind.values}, not {kind!r}")
    day = timezone.localdate(at or timezone.now())
    counter = PortalActivityDay.objects.filter(customer=customer, day=day, kind=kind)
    if counter.update(count=F("count") + 1):
        return
    try:
        with transaction.atomic():
            PortalActivityDay.objects.create(customer=customer, day=day, kind=kind, count=1)
    except IntegrityError:  # created meanwhile by a concurrent request
        counter.update(count=F("count") + 1)
