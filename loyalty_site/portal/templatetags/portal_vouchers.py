"""A voucher's status as the member reads it: ``issued`` (usable), ``used``, ``cancelled``
or ``expired``, the last derived from its ``expires_at`` (``programs.vouchers``)."""

from django import template

from programs.vouchers import voucher_status

register = template.Library()


@register.filter
def voucher_state(redemption) -> str:
    return voucher_status(redemption)
