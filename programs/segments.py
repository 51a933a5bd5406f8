"""Segments evaluated live: a segment's conditions compiled to one Membership queryset.

The members of a segment are the program's active memberships of customers whose data was
not deleted, for which any condition group holds; a group holds when all its conditions
hold. A segment without conditions holds every active member. What each field compares:

* tier: the member's tier by rank ("at least Silber" includes Gold). A member without a
  tier is below every tier: "at most" and "is not" match, "is" and "at least" do not.
* engagement, churn risk, probability alive, predicted CLV: the figures the metrics
  computed (``MembershipFigures``). Probability alive is stored 0-1 and compared in per
  cent (0-100); churn risk is a flag (yes or no). A member whose figure was not computed
  matches no condition on it, whatever the operator.
* days since the last purchase: whole days (of 24 hours) since the newest awarded
  purchase; ``last_activity_at`` is not used, since redemptions and actions move it too.
  A member who never bought matches "at least" and "is not", never "at most" or "is".
* purchases and spend in the last 12 months: awarded purchases that occurred in the 365
  days before ``now``; spend is net of returns. A member without any has 0 of both.
* points: the available balance. Days since joining: whole days since ``joined_at``.
* partner: the customer is linked to the partner (``PartnerCustomer``).
* marketing consent: yes or no; a customer without a preferences row has not agreed.
* birthday month: 1-12, the month of the customer's date of birth; unknown matches none.

Conditions are checked by :func:`condition_errors` when staff save them; compiling one whose
value cannot be read raises ``SegmentConditionInvalid``.
"""

import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from functools import reduce
from operator import and_, or_

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from customers.models import CommunicationPreferences
from programs.errors import LoyaltyError
from programs.models import (
    Membership,
    MembershipStatus,
    PartnerCustomer,
    Program,
    Purchase,
    PurchaseStatus,
    Segment,
    SegmentCondition,
    SegmentField,
    SegmentOperator,
)

Field = SegmentField
Op = SegmentOperator

DAY = timedelta(days=1)
YEAR = timedelta(days=365)

YES_NO_FIELDS = frozenset({Field.MARKETING_CONSENT, Field.CHURN_RISK})
EQUALITY_FIELDS = YES_NO_FIELDS | {Field.PARTNER}
WHOLE_NUMBER_FIELDS = frozenset(
    {
        Field.DAYS_SINCE_PURCHASE,
        Field.PURCHASES_12M,
        Field.POINTS,
        Field.MEMBER_DAYS,
        Field.BIRTHDAY_MONTH,
    }
)
# The values a number may take, per field (inclusive; None: no bound but LARGEST).
NUMBER_RANGES = {
    Field.ENGAGEMENT: (0, 100),
    Field.PROBABILITY_ALIVE: (0, 100),
    Field.PREDICTED_CLV: (0, None),
    Field.SPEND_12M: (0, None),
    Field.DAYS_SINCE_PURCHASE: (0, 36_500),
    Field.MEMBER_DAYS: (0, 36_500),
    Field.PURCHASES_12M: (0, None),
    Field.POINTS: (0, None),
    Field.BIRTHDAY_MONTH: (1, 12),
}
LARGEST = 10**12
YES_WORDS = frozenset({"yes", "ja"})
NO_WORDS = frozenset({"no", "nein"})
WHOLE_NUMBER = re.compile(r"^-?\d+$")
DECIMAL_NUMBER = re.compile(r"^-?\d+(?:[.,]\d+)?$")


class SegmentConditionInvalid(LoyaltyError):
    code = "segment_condition_invalid"
    default_message = gettext_lazy("A condition of the segment is not valid.")


def allowed_operators(field: str) -> tuple[str, ...]:
    """The operators a field can be compared with: partner and yes/no fields only is and
    is not."""
    if field in EQUALITY_FIELDS:
        return (Op.IS, Op.IS_NOT)
    return tuple(Op.values)


# --- Reading values ---------------------------------------------------------------------


def _yes_no(value: str) -> bool | None:
    word = (value or "").strip().lower()
    if word in YES_WORDS:
        return True
    if word in NO_WORDS:
        return False
    return None


def _number(field: str, value: str) -> Decimal | None:
    """The value as a number in the field's range, or None. A decimal comma is read as a
    point; thousands separators are not accepted ("1.000" is not a thousand)."""
    text = (value or "").strip().replace(" ", "")
    pattern = WHOLE_NUMBER if field in WHOLE_NUMBER_FIELDS else DECIMAL_NUMBER
    if not pattern.match(text):
        return None
    number = Decimal(text.replace(",", "."))
    low, high = NUMBER_RANGES[field]
    return number if low <= number <= (LARGEST if high is None else high) else None


def _value_error(field: str, value: str) -> str | None:
    if field in YES_NO_FIELDS:
        return None if _yes_no(value) is not None else _("Enter yes or no.")
    if field not in NUMBER_RANGES or _number(field, value) is not None:
        return None
    low, high = NUMBER_RANGES[field]
    whole = field in WHOLE_NUMBER_FIELDS
    text = (value or "").strip().replace(" ", "")
    if high is None and DECIMAL_NUMBER.match(text) and Decimal(text.replace(",", ".")) > LARGEST:
        return _("This number is too large.")
    if high is None and whole:
        return _("Enter a whole number of at least %(low)s, without separators.") % {"low": low}
    if high is None:
        return _("Enter a number of at least %(low)s (decimal comma allowed).") % {"low": low}
    if whole:
        return _("Enter a whole number from %(low)s to %(high)s, without separators.") % {
            "low": low,
            "high": high,
        }
    return _("Enter a number from %(low)s to %(high)s (decimal comma allowed).") % {
        "low": low,
        "high": high,
    }


def _takes_part(partner_id: int, program: Program) -> bool:
    return program.partners.filter(pk=partner_id).exists()


def condition_errors(
    condition: SegmentCondition, *, program: Program | None
) -> dict[str, list[str]]:
    """What is wrong with a condition, by the name of the condition's field at fault
    (``field``, ``operator``, ``value``, ``tier``, ``partner``); empty when it is valid.
    ``program`` is the segment's: the tier and partner must belong to it (None: not
    checked, the program is not known yet)."""
    errors: dict[str, list[str]] = defaultdict(list)
    field = condition.field
    if field not in Field.values:
        errors["field"].append(_("Choose what the condition compares."))
        return dict(errors)
    if condition.operator not in allowed_operators(field):
        errors["operator"].append(
            _("This field can only be compared with “is” or “is not”.")
            if field in EQUALITY_FIELDS
            else _("Choose how to compare.")
        )
    if field == Field.TIER:
        if condition.tier_id is None:
            errors["tier"].append(_("Choose the tier to compare with."))
        elif program is not None and condition.tier.program_id != program.pk:
            errors["tier"].append(_("Choose a tier of the segment's program."))
    elif field == Field.PARTNER:
        if condition.partner_id is None:
            errors["partner"].append(_("Choose the partner."))
        elif program is not None and not _takes_part(condition.partner_id, program):
            errors["partner"].append(
                _("Choose a partner that takes part in the segment's program.")
            )
    else:
        message = _value_error(field, condition.value)
        if message:
            errors["value"].append(message)
    return dict(errors)


# --- Compiling conditions ---------------------------------------------------------------


def _compare(path: str, operator: str, value) -> Q:
    """``path`` compared with ``value``; a NULL matches no operator ("is not" included)."""
    if operator == Op.IS:
        return Q(**{path: value})
    if operator == Op.IS_NOT:
        return Q(**{f"{path}__lt": value}) | Q(**{f"{path}__gt": value})
    if operator == Op.AT_LEAST:
        return Q(**{f"{path}__gte": value})
    return Q(**{f"{path}__lte": value})


def _holds_for_zero(operator: str, value) -> bool:
    return {
        Op.IS: value == 0,
        Op.IS_NOT: value != 0,
        Op.AT_LEAST: value <= 0,
        Op.AT_MOST: value >= 0,
    }[operator]


def _days_since(path: str, operator: str, days: int, now: datetime) -> Q:
    """Whole days since the time at ``path`` compared with ``days``: ``days`` whole days
    have passed when the time is at most ``now - days``, and not yet ``days + 1`` when it
    is after ``now - (days + 1)``."""
    passed = Q(**{f"{path}__lte": now - days * DAY})
    not_more = Q(**{f"{path}__gt": now - (days + 1) * DAY})
    return {
        Op.IS: passed & not_more,
        Op.IS_NOT: Q(**{f"{path}__gt": now - days * DAY})
        | Q(**{f"{path}__lte": now - (days + 1) * DAY}),
        Op.AT_LEAST: passed,
        Op.AT_MOST: not_more,
    }[operator]


def _days_since_purchase(operator: str, days: int, now: datetime) -> Q:
    """Whole days since the newest awarded purchase; a member who never bought has bought
    in no span, so matches "at least" and "is not" only."""
    awarded = Purchase.objects.filter(membership=OuterRef("pk"), status=PurchaseStatus.AWARDED)
    within_days = Q(Exists(awarded.filter(occurred_at__gt=now - days * DAY)))
    within_days_and_one = Q(Exists(awarded.filter(occurred_at__gt=now - (days + 1) * DAY)))
    return {
        Op.IS: within_days_and_one & ~within_days,
        Op.IS_NOT: ~within_days_and_one | within_days,
        Op.AT_LEAST: ~within_days,
        Op.AT_MOST: within_days_and_one,
    }[operator]


def _last_year(program_id: int, operator: str, value, now: datetime, figure) -> Q:
    """A figure of the awarded purchases in the 365 days before ``now``, per member, in
    one grouped subquery over the program's purchases (not one per member). A member
    without purchases has 0: when 0 satisfies the comparison, the members left out are
    those whose purchases do not."""
    per_member = (
        Purchase.objects.filter(
            program=program_id,
            status=PurchaseStatus.AWARDED,
            occurred_at__gt=now - YEAR,
            occurred_at__lte=now,
        )
        .order_by()
        .values("membership_id")
        .annotate(figure=figure)
    )
    comparison = _compare("figure", operator, value)
    if _holds_for_zero(operator, value):
        return ~Q(pk__in=per_member.exclude(comparison).values("membership_id"))
    return Q(pk__in=per_member.filter(comparison).values("membership_id"))


def _condition_q(condition: SegmentCondition, program_id: int, now: datetime) -> Q:
    field, operator = condition.field, condition.operator
    if condition_errors(condition, program=None):
        raise SegmentConditionInvalid(field=field, operator=operator, value=condition.value)
    if field == Field.TIER:
        rank = condition.tier.rank
        return {
            Op.IS: Q(tier=condition.tier_id),
            Op.IS_NOT: ~Q(tier=condition.tier_id),
            Op.AT_LEAST: Q(tier__rank__gte=rank),
            Op.AT_MOST: Q(tier__rank__lte=rank) | Q(tier__isnull=True),
        }[operator]
    if field == Field.PARTNER:
        linked = Q(
            Exists(
                PartnerCustomer.objects.filter(
                    partner=condition.partner_id, customer=OuterRef("customer_id")
                )
            )
        )
        return linked if operator == Op.IS else ~linked
    if field in YES_NO_FIELDS:
        wanted = _yes_no(condition.value) == (operator == Op.IS)
        if field == Field.CHURN_RISK:
            return Q(figures__churn_risk=wanted)
        consent = Q(
            Exists(
                CommunicationPreferences.objects.filter(
                    customer=OuterRef("customer_id"), email_marketing=True
                )
            )
        )
        return consent if wanted else ~consent
    number = _number(field, condition.value)
    if field == Field.DAYS_SINCE_PURCHASE:
        return _days_since_purchase(operator, int(number), now)
    if field == Field.MEMBER_DAYS:
        return _days_since("joined_at", operator, int(number), now)
    if field == Field.PURCHASES_12M:
        return _last_year(program_id, operator, number, now, Count("pk"))
    if field == Field.SPEND_12M:
        return _last_year(
            program_id, operator, number, now, Sum(F("amount") - F("refunded_amount"))
        )
    path, value = {
        Field.ENGAGEMENT: ("figures__engagement_score", number),
        Field.PROBABILITY_ALIVE: ("figures__probability_alive", number / 100),
        Field.PREDICTED_CLV: ("figures__predicted_clv", number),
        Field.POINTS: ("balance", number),
        Field.BIRTHDAY_MONTH: ("customer__birth_date__month", int(number)),
    }[field]
    return _compare(path, operator, value)


def _conditions_q(program_id: int, conditions: Iterable[SegmentCondition], now: datetime) -> Q:
    """The conditions as one filter: and within a group, or between groups."""
    groups: dict[int, list[Q]] = defaultdict(list)
    for condition in conditions:
        groups[condition.group].append(_condition_q(condition, program_id, now))
    if not groups:
        return Q()
    return reduce(or_, (reduce(and_, group) for group in groups.values()))


def _active_members(program_id: int) -> QuerySet[Membership]:
    return Membership.objects.filter(
        program=program_id,
        status=MembershipStatus.ACTIVE,
        customer__anonymized_at__isnull=True,
    )


# --- Public reads -----------------------------------------------------------------------


def conditions_members(
    program: Program, conditions: Iterable[SegmentCondition], *, now: datetime
) -> QuerySet[Membership]:
    """The program's members for which ``conditions`` hold (saved, or unsaved ones being
    edited); see the module docstring for what each field compares."""
    return _active_members(program.pk).filter(_conditions_q(program.pk, conditions, now))


def segment_members(segment: Segment, *, now: datetime | None = None) -> QuerySet[Membership]:
    """The segment's members now (or at ``now``): campaigns freeze these when they start."""
    now = now or timezone.now()
    conditions = segment.conditions.select_related("tier")
    return _active_members(segment.program_id).filter(
        _conditions_q(segment.program_id, conditions, now)
    )


def segment_member_counts(
    segments: Iterable[Segment], *, now: datetime | None = None
) -> dict[int, int]:
    """How many members each segment has, by segment id: one query for the conditions and
    one pass over the programs' memberships counting every segment at once."""
    now = now or timezone.now()
    segments = list(segments)
    if not segments:
        return {}
    conditions = defaultdict(list)
    for condition in SegmentCondition.objects.filter(segment__in=segments).select_related("tier"):
        conditions[condition.segment_id].append(condition)
    counts = {
        f"segment_{segment.pk}": Count(
            "pk",
            filter=Q(program=segment.program_id)
            & _conditions_q(segment.program_id, conditions[segment.pk], now),
        )
        for segment in segments
    }
    programs = {segment.program_id for segment in segments}
    totals = Membership.objects.filter(
        program__in=programs,
        status=MembershipStatus.ACTIVE,
        customer__anonymized_at__isnull=True,
    ).aggregate(**counts)
    return {segment.pk: totals[f"segment_{segment.pk}"] for segment in segments}
