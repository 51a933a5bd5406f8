"""Partners' members waiting for a customer to confirm a link by e-mail address
(``programs.services.link_claims``): read-only, since only the customer answers."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from programs.admin.base import ServiceWrittenAdmin
from programs.models import LinkClaim


@admin.register(LinkClaim)
class LinkClaimAdmin(ServiceWrittenAdmin):
    list_display = ("link", "customer", "created_at", "answer")
    list_filter = (("confirmed_at", admin.EmptyFieldListFilter),)
    search_fields = ("link__external_id", "customer__email")
    fields = ("link", "customer", "email", "created_at", "confirmed_at", "declined_at")
    readonly_fields = fields
    list_select_related = ("link__partner", "customer")

    @admin.display(description=_("answer"))
    def answer(self, claim: LinkClaim) -> str:
        if claim.confirmed_at:
            return _("confirmed")
        if claim.declined_at:
            return _("declined")
        return _("waiting")
