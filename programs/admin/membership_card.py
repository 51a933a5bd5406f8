"""The member card on the membership admin page: its number (searchable, also as printed
in groups of four), the state of the customer's PIN, and a button that resets the PIN
(``programs.services.card_proofs.pin_clear``), e.g. when a customer forgot it or fears
someone saw it. Staff never see or set a PIN: the customer sets a new one in the portal."""

from django import forms
from django.contrib import admin, messages
from django.shortcuts import redirect
from django.urls import path
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _

from programs.admin.base import EMPTY, render_form_page
from programs.cards import card_number_clean, card_number_display
from programs.models import CardProof
from programs.services.card_proofs import pin_clear

CARD_FIELDS = ("card_number_shown", "pin_state")


class MembershipCard(admin.ModelAdmin):
    """Mixed into ``MembershipAdmin`` before ``MembershipOperations``."""

    def get_search_results(self, request, queryset, search_term):
        """A card number finds its membership however it is typed (``4063 6716 3095
        1477``); the admin would otherwise search for each group of four on its own."""
        number = card_number_clean(search_term)
        if number is not None:
            return queryset.filter(card_number=number), False
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description=_("card number"), ordering="card_number")
    def card_number_shown(self, obj):
        return card_number_display(obj.card_number) if obj.card_number else EMPTY

    @admin.display(description=_("PIN"))
    def pin_state(self, obj):
        card = CardProof.objects.filter(membership=obj).first()
        if card is None or not card.pin_hash:
            return _("not set")
        set_on = timezone.localtime(card.pin_set_at) if card.pin_set_at else None
        state = _("set on %(date)s") % {"date": formats.date_format(set_on) if set_on else EMPTY}
        if card.pin_locked_until and card.pin_locked_until > timezone.now():
            until = timezone.localtime(card.pin_locked_until)
            locked = formats.date_format(until, "DATETIME_FORMAT")
            state = _("%(state)s; after %(failures)s wrong PINs locked until %(until)s") % {
                "state": state,
                "failures": card.pin_failures,
                "until": locked,
            }
        elif card.pin_failures:
            state = _("%(state)s; %(failures)s wrong PINs in a row") % {
                "state": state,
                "failures": card.pin_failures,
            }
        return state

    def object_tools(self, request, obj):
        tools = super().object_tools(request, obj)
        if self.has_operate_permission(request):
            tools.append((_("Reset PIN"), self.admin_url("reset_pin", obj.pk)))
        return tools

    def get_urls(self):
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path(
                "<path:object_id>/reset-pin/",
                self.admin_site.admin_view(self.reset_pin_view),
                name=f"{info}_reset_pin",
            ),
            *super().get_urls(),
        ]

    def reset_pin_view(self, request, object_id):
        membership = self.operated_object(request, object_id)
        form = forms.Form(request.POST if request.method == "POST" else None)
        if form.is_valid():
            pin_clear(membership)
            message = _("The PIN is reset. The customer can set a new one in the portal.")
            self.log_change(request, membership, str(_("PIN reset.")))
            self.message_user(request, message, messages.SUCCESS)
            return redirect(self.admin_url("change", membership.pk))
        return render_form_page(
            self,
            request,
            form=form,
            obj=membership,
            title=_("Reset PIN"),
            submit_label=_("Reset PIN"),
            intro=_(
                "The customer's PIN for card %(card)s is removed and its lock lifted. Until "
                "the customer sets a new PIN in the portal, tills need the rotating code from "
                "the portal's card page to spend points."
            )
            % {"card": card_number_display(membership.card_number)},
        )
