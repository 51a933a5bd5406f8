"""Vouchers at the till: find one by its code, use it once.

A partner sees the vouchers issued in the programs it takes part in, whoever issued them
and whether or not it linked the member (a coalition's voucher is good at every merchant
of the program), and nothing of other programs. Using one needs the customer's proof,
which the API checks before calling ``voucher_use`` (``programs.api.proofs``).

``redemption_use`` is the one writer of a voucher's use, for a till (``voucher_use``) and
for staff in the admin (no partner): it locks the redemption row, so of any number of
concurrent uses of one code exactly one succeeds and the others read ``used``. The
``voucher.used`` webhook is written in the same transaction and sent after the commit
(``events.event_record``) to the program's partners that linked the member.
"""

from datetime import datetime

from django.db import transaction
from django.db.models import Case, OuterRef, QuerySet, Subquery, Value, When
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from programs.errors import VoucherCancelled, VoucherExpired, VoucherNotFound, VoucherUsed
from programs.models import Partner, PartnerCustomer, Redemption, RedemptionStatus
from programs.services import events
from programs.services.events import event_record
from programs.vouchers import voucher_code_clean, voucher_is_expired

_WHEN = "%Y-%m-%d %H:%M"


def _local(moment: datetime) -> datetime:
    """In the site's time zone, as the API writes date-times."""
    return timezone.localtime(moment, timezone.get_default_timezone())


def partner_vouchers(*, partner: Partner) -> QuerySet[Redemption]:
    """Redemptions of the partner's programs, each with ``member_external_id`` (the
    partner's id of the member, None if not linked) and ``used_by_you``."""
    linked = PartnerCustomer.objects.filter(
        partner=partner, customer=OuterRef("membership__customer")
    )
    return (
        Redemption.objects.filter(membership__program__partners=partner)
        .select_related("reward", "membership__program")
        .annotate(
            member_external_id=Subquery(linked.values("external_id")[:1]),
            used_by_you=Case(When(used_by_partner=partner, then=Value(True)), default=Value(False)),
        )
    )


def voucher_find(*, partner: Partner, code: str) -> Redemption | None:
    """The voucher with ``code`` (any case, hyphens optional) in the partner's programs;
    None if there is none, or only in a program the partner is not in."""
    return partner_vouchers(partner=partner).filter(voucher_code=voucher_code_clean(code)).first()


def voucher_usable_check(
    redemption: Redemption, *, partner: Partner | None = None, now: datetime | None = None
) -> None:
    """Raise why this voucher cannot be used now (``voucher_used`` says when and whether
    it was ``partner``), if it cannot."""
    now = now or timezone.now()
    if redemption.status == RedemptionStatus.CANCELLED:
        raise VoucherCancelled()
    if redemption.status == RedemptionStatus.USED:
        when = _local(redemption.used_at)
        raise VoucherUsed(
            format_lazy(_("This voucher was already used on {when}."), when=when.strftime(_WHEN)),
            used_at=when.isoformat(),
            used_by_you=partner is not None and redemption.used_by_partner_id == partner.pk,
        )
    if voucher_is_expired(redemption, now):
        valid_to = _local(redemption.expires_at)
        raise VoucherExpired(
            format_lazy(
                _("This voucher expired on {date}; it can no longer be used."),
                date=valid_to.strftime("%Y-%m-%d"),
            ),
            expires_at=valid_to.isoformat(),
        )


def voucher_use(*, partner: Partner, code: str, at: datetime | None = None) -> Redemption:
    """Use the voucher with ``code`` at ``partner``: see ``redemption_use``."""
    redemption = voucher_find(partner=partner, code=code)
    if redemption is None:
        raise VoucherNotFound()
    return redemption_use(redemption=redemption, partner=partner, at=at)


@transaction.atomic
def redemption_use(
    *, redemption: Redemption, partner: Partner | None = None, at: datetime | None = None
) -> Redemption:
    """Mark an issued, unexpired voucher used at ``at`` (default now) by ``partner``
    (None: staff). Raises ``VoucherUsed``, ``VoucherCancelled`` or ``VoucherExpired``
    (all ``RedemptionNotUsable``) otherwise; the row is locked first, so a concurrent use
    waits and then reads ``used``."""
    now = at or timezone.now()
    locked = (
        Redemption.objects.select_for_update(of=("self",))
        .select_related("reward", "membership__program")
        .get(pk=redemption.pk)
    )
    voucher_usable_check(locked, partner=partner, now=now)
    locked.status, locked.used_at, locked.used_by_partner = RedemptionStatus.USED, now, partner
    locked.save(update_fields=["status", "used_at", "used_by_partner"])
    event_record(
        type=events.VOUCHER_USED,
        membership=locked.membership,
        data={
            "partner_id": partner.pk if partner else None,
            "redemption_id": locked.pk,
            "voucher_code": locked.voucher_code,
            "reward_id": locked.reward_id,
            "reward": locked.reward.name,
            "points": locked.points,
            "used_at": now,
        },
        at=at,
    )
    return locked
