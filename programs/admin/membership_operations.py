"""The membership admin's operation pages: enroll, adjust points, set or reset a tier,
change the status, sell a subscription tier. Each page validates a form and calls one
service; the balances and tiers themselves are never edited by hand."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.shortcuts import redirect
from django.urls import path
from django.utils.translation import gettext_lazy as _

from programs.admin.base import add_domain_error, render_form_page, tier_label
from programs.admin.forms import (
    MembershipEnrollForm,
    PointsAdjustForm,
    SubscriptionSellForm,
    TierOverrideForm,
    adjustment_key_new,
    reference_new,
)
from programs.admin.membership_status import MembershipStatusForm
from programs.errors import LoyaltyError
from programs.models import MembershipStatus, TierKind
from programs.services.actions import points_adjust
from programs.services.ledger import entry_by_key
from programs.services.locking import lock_membership
from programs.services.memberships import membership_enroll
from programs.services.subscriptions import tier_subscription_buy
from programs.services.tiers import membership_tier_override


class MembershipOperations(admin.ModelAdmin):
    """The operation pages of ``MembershipAdmin`` (mixed in before its base class)."""

    def object_tools(self, request, obj):
        if not self.has_operate_permission(request):
            return []
        tools = [
            (_("Adjust points"), self.admin_url("adjust_points", obj.pk)),
            (_("Set tier"), self.admin_url("set_tier", obj.pk)),
        ]
        if obj.status != MembershipStatus.CLOSED:
            tools.append((_("Change status"), self.admin_url("change_status", obj.pk)))
        if obj.program.tiers.filter(kind=TierKind.SUBSCRIPTION).exists():
            tools.append((_("Sell subscription tier"), self.admin_url("sell_subscription", obj.pk)))
        return tools

    def get_urls(self):
        view = self.admin_site.admin_view
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path(
                "<path:object_id>/adjust-points/",
                view(self.adjust_points_view),
                name=f"{info}_adjust_points",
            ),
            path("<path:object_id>/set-tier/", view(self.set_tier_view), name=f"{info}_set_tier"),
            path(
                "<path:object_id>/change-status/",
                view(self.change_status_view),
                name=f"{info}_change_status",
            ),
            path(
                "<path:object_id>/sell-subscription/",
                view(self.sell_subscription_view),
                name=f"{info}_sell_subscription",
            ),
            *super().get_urls(),
        ]

    def add_view(self, request, form_url="", extra_context=None):
        """Enrolling a customer is the only way to add a membership."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = MembershipEnrollForm(
            request.POST if request.method == "POST" else None, admin_site=self.admin_site
        )
        if form.is_valid():
            try:
                membership, created = membership_enroll(
                    customer=form.cleaned_data["customer"], program=form.cleaned_data["program"]
                )
            except LoyaltyError as error:
                add_domain_error(form, error)
            else:
                if created:
                    self.log_addition(request, membership, [{"added": {}}])
                    self.message_user(request, _("The customer is now a member."), messages.SUCCESS)
                else:
                    self.message_user(
                        request, _("The customer was already a member."), messages.WARNING
                    )
                return redirect(self.admin_url("change", membership.pk))
        return render_form_page(
            self,
            request,
            form=form,
            title=_("Enroll a customer"),
            submit_label=_("Enroll"),
        )

    def adjust_points_view(self, request, object_id):
        membership = self.operated_object(request, object_id)
        if request.method == "POST":
            form = PointsAdjustForm(request.POST)
            if form.is_valid() and self._adjust_points(request, membership, form):
                return redirect(self.admin_url("change", membership.pk))
        else:
            form = PointsAdjustForm(initial={"idempotency_key": adjustment_key_new()})
        return render_form_page(
            self,
            request,
            form=form,
            obj=membership,
            title=_("Adjust points"),
            submit_label=_("Book adjustment"),
            intro=_("Available now: %(available)s points, pending: %(pending)s.")
            % {"available": membership.available, "pending": membership.pending},
        )

    def _adjust_points(self, request, membership, form) -> bool:
        key = form.cleaned_data["idempotency_key"]
        already = _("This adjustment was already booked; it was not booked again.")
        if entry_by_key(key) is not None:
            self.message_user(request, already, messages.WARNING)
            return True
        try:
            points_adjust(
                membership=membership,
                points=form.cleaned_data["points"],
                reason=form.cleaned_data["reason"],
                user=request.user,
                idempotency_key=key,
            )
        except LoyaltyError as error:
            add_domain_error(form, error)
            return False
        except IntegrityError:  # the same form, submitted twice at once: the first one won
            if entry_by_key(key) is None:
                raise
            self.message_user(request, already, messages.WARNING)
            return True
        membership.refresh_from_db()
        message = _("Booked %(points)+d points. Available now: %(available)s.") % {
            "points": form.cleaned_data["points"],
            "available": membership.available,
        }
        self.log_change(request, membership, f"{message} {form.cleaned_data['reason']}")
        self.message_user(request, message, messages.SUCCESS)
        return True

    def set_tier_view(self, request, object_id):
        membership = self.operated_object(request, object_id)
        form = TierOverrideForm(
            request.POST if request.method == "POST" else None, membership=membership
        )
        if form.is_valid():
            data = form.cleaned_data
            try:
                # The service writes the whole tier state: hold the row so a purchase being
                # awarded at the same moment cannot have its upgrade overwritten.
                with transaction.atomic():
                    membership_tier_override(
                        lock_membership(membership.pk),
                        tier=data["tier"],
                        until=data["until"],
                        reason=data["reason"],
                        user=request.user,
                    )
            except LoyaltyError as error:
                add_domain_error(form, error)
            else:
                message = _("Staff tier set to %(tier)s.") % {
                    "tier": tier_label(data["tier"]) or "-"
                }
                self.log_change(request, membership, f"{message} {data['reason']}")
                self.message_user(request, message, messages.SUCCESS)
                return redirect(self.admin_url("change", membership.pk))
        return render_form_page(
            self,
            request,
            form=form,
            obj=membership,
            title=_("Set tier"),
            submit_label=_("Set tier"),
            intro=_(
                "A staff tier wins over the qualified and the subscribed tier until it ends. "
                "Current tier: %(tier)s."
            )
            % {"tier": tier_label(membership.tier) or "-"},
        )

    def change_status_view(self, request, object_id):
        membership = self.operated_object(request, object_id)
        form = MembershipStatusForm(
            request.POST if request.method == "POST" else None, membership=membership
        )
        if form.is_valid():
            service = MembershipStatusForm.CHANGES[form.cleaned_data["change"]][1]
            try:
                change = service(
                    membership=membership, reason=form.cleaned_data["reason"], user=request.user
                )
            except LoyaltyError as error:
                add_domain_error(form, error)
            else:
                message = _("Status changed to %(status)s.") % {
                    "status": change.get_to_status_display()
                }
                self.log_change(request, membership, f"{message} {change.reason}")
                self.message_user(request, message, messages.SUCCESS)
                return redirect(self.admin_url("change", membership.pk))
        return render_form_page(
            self,
            request,
            form=form,
            obj=membership,
            title=_("Change status"),
            submit_label=_("Change status"),
            intro=_(
                "Current status: %(status)s. A suspended or closed membership earns and "
                "redeems nothing; a closed one cannot be reactivated."
            )
            % {"status": membership.get_status_display()},
        )

    def sell_subscription_view(self, request, object_id):
        membership = self.operated_object(request, object_id)
        if request.method == "POST":
            form = SubscriptionSellForm(request.POST, membership=membership)
        else:
            form = SubscriptionSellForm(
                membership=membership, initial={"order_id": reference_new("subscription")}
            )
        if form.is_valid():
            data = form.cleaned_data
            try:
                subscription = tier_subscription_buy(
                    membership=membership,
                    tier=data["tier"],
                    partner=data["partner"],
                    order_id=data["order_id"],
                )
            except LoyaltyError as error:
                add_domain_error(form, error)
            except IntegrityError:
                form.add_error(
                    "order_id", _("This partner already has an order with this id; use another.")
                )
            else:
                message = _("%(tier)s paid until %(until)s.") % {
                    "tier": subscription.tier.name,
                    "until": subscription.ends_at.date(),
                }
                self.log_change(request, membership, message)
                self.message_user(request, message, messages.SUCCESS)
                return redirect(self.admin_url("change", membership.pk))
        return render_form_page(
            self,
            request,
            form=form,
            obj=membership,
            title=_("Sell subscription tier"),
            submit_label=_("Sell"),
            intro=_("A renewal of the same tier starts where the paid period ends."),
        )
