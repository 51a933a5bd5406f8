"""Points holds (paying with points at a till), read-only on the membership page: they
change only through the partner API and the expiry job (``programs.services.holds``)."""

from django.utils.translation import gettext_lazy as _

from programs.admin.base import LatestRowsFormSet, ReadOnlyInline
from programs.models import PointsHold


class PointsHoldInline(ReadOnlyInline):
    model = PointsHold
    formset = LatestRowsFormSet
    verbose_name_plural = _("points holds (newest 50)")
    fields = (
        "created_at",
        "partner",
        "status",
        "points",
        "points_captured",
        "points_refunded",
        "amount",
        "currency",
        "order_reference",
        "expires_at",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("partner")
