"""The rewards catalogue (configuration) and redemptions (written by the services)."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from programs.admin.base import ServiceWrittenAdmin, field_shown, tier_label, titled_filter
from programs.errors import LoyaltyError
from programs.models import Redemption, RedemptionStatus, Reward, Tier
from programs.services.ledger import Actor
from programs.services.rewards import redemption_cancel
from programs.services.vouchers import redemption_use
from programs.vouchers import VoucherStatus, voucher_status


class StockFilter(admin.SimpleListFilter):
    title = _("stock")
    parameter_name = "stock"

    def lookups(self, request, model_admin):
        return [
            ("in", _("In stock")),
            ("out", _("Out of stock")),
            ("unlimited", _("Unlimited")),
        ]

    def queryset(self, request, queryset):
        return {
            "in": queryset.filter(stock__gt=0),
            "out": queryset.filter(stock=0),
            "unlimited": queryset.filter(stock__isnull=True),
        }.get(self.value(), queryset)


class WindowFilter(admin.SimpleListFilter):
    title = _("availability window")
    parameter_name = "window"

    def lookups(self, request, model_admin):
        return [
            ("now", _("Available now")),
            ("upcoming", _("Not yet available")),
            ("ended", _("Ended")),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        started = Q(active_from__isnull=True) | Q(active_from__lte=now)
        not_ended = Q(active_until__isnull=True) | Q(active_until__gt=now)
        return {
            "now": queryset.filter(started & not_ended),
            "upcoming": queryset.filter(active_from__gt=now),
            "ended": queryset.filter(active_until__lte=now),
        }.get(self.value(), queryset)


class RewardForm(forms.ModelForm):
    class Meta:
        model = Reward
        fields = (
            "program",
            "name",
            "description",
            "is_active",
            "points_cost",
            "stock",
            "min_tier",
            "active_from",
            "active_until",
            "per_member_limit",
            "voucher_valid_days",
        )
        labels = {"program": _("program")}  # the model field has no translated name

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The stock as shown travels with the form, so an edit is applied as a difference.
        self.fields["stock"].show_hidden_initial = True

    def stock_shown(self) -> int | None:
        field = self.fields["stock"]
        raw = field.hidden_widget().value_from_datadict(
            self.data, self.files, self.add_initial_prefix("stock")
        )
        try:
            return field.to_python(raw)
        except ValidationError:
            return self.initial.get("stock")

    def clean(self):
        cleaned = super().clean()
        program, min_tier = cleaned.get("program"), cleaned.get("min_tier")
        if program and min_tier and min_tier.program_id != program.pk:
            self.add_error("min_tier", _("Choose a tier of this reward's program."))
        starts, ends = cleaned.get("active_from"), cleaned.get("active_until")
        if starts and ends and ends <= starts:
            self.add_error("active_until", _("The window must end after it starts."))
        return cleaned


@admin.register(Reward)
class RewardAdmin(admin.ModelAdmin):
    form = RewardForm
    list_display = (
        "name",
        "program_shown",
        "points_cost",
        "stock",
        "min_tier_name",
        "active_from",
        "active_until",
        "per_member_limit",
        "is_active",
    )
    list_select_related = ("program", "min_tier")
    list_filter = (
        "is_active",
        ("program", titled_filter(_("program"))),
        StockFilter,
        WindowFilter,
    )
    search_fields = ("name",)
    fieldsets = (
        (None, {"fields": ("program", "name", "description", "is_active")}),
        (_("Cost and stock"), {"fields": ("points_cost", "stock")}),
        (
            _("Who and when"),
            {"fields": ("min_tier", "active_from", "active_until", "per_member_limit")},
        ),
        (_("Voucher"), {"fields": ("voucher_valid_days",)}),
    )

    program_shown = field_shown("program", _("program"), ordering="program__name")

    @admin.display(description=_("minimum tier"), ordering="min_tier__rank")
    def min_tier_name(self, obj):
        return tier_label(obj.min_tier)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "min_tier":
            kwargs["queryset"] = Tier.objects.select_related("program")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        """Stock also moves with every redemption and cancellation while the form is open:
        the other fields are saved as edited, the stock only by the difference staff made
        to the value they were shown, so those moves are never overwritten."""
        if not change:
            obj.save()
            return
        fields = [f.name for f in self.opts.concrete_fields if f.name not in {"id", "stock"}]
        obj.save(update_fields=fields)
        if "stock" not in form.changed_data:
            obj.refresh_from_db(fields=["stock"])
            return
        shown, wanted = form.stock_shown(), obj.stock
        rows = Reward.objects.filter(pk=obj.pk)
        if shown is None or wanted is None:
            rows.update(stock=wanted)
        elif not rows.filter(stock__gte=shown - wanted).update(stock=F("stock") + wanted - shown):
            self.message_user(
                request,
                _("The stock was not lowered: fewer are left than you took away."),
                messages.ERROR,
            )
        obj.refresh_from_db(fields=["stock"])


class VoucherStatusFilter(admin.SimpleListFilter):
    """The status as shown: an issued voucher past its ``expires_at`` is ``expired``."""

    title = _("status")
    parameter_name = "voucher_status"

    def lookups(self, request, model_admin):
        return VoucherStatus.choices

    def queryset(self, request, queryset):
        now = timezone.now()
        past = Q(expires_at__isnull=False, expires_at__lt=now)
        issued = queryset.filter(status=RedemptionStatus.ISSUED)
        return {
            VoucherStatus.ISSUED: issued.exclude(past),
            VoucherStatus.EXPIRED: issued.filter(past),
            VoucherStatus.USED: queryset.filter(status=RedemptionStatus.USED),
            VoucherStatus.CANCELLED: queryset.filter(status=RedemptionStatus.CANCELLED),
        }.get(self.value(), queryset)


@admin.register(Redemption)
class RedemptionAdmin(ServiceWrittenAdmin):
    list_display = (
        "voucher_code",
        "membership_shown",
        "reward_shown",
        "points",
        "status_shown",
        "created_at",
        "expires_at",
        "used_at",
        "used_by_partner",
        "cancelled_at",
    )
    list_select_related = (
        "membership__customer",
        "membership__program",
        "reward",
        "used_by_partner",
    )
    list_filter = (VoucherStatusFilter, ("reward__program", titled_filter(_("program"))))
    search_fields = ("=voucher_code", "membership__customer__email")
    search_help_text = _("Exact voucher code, or the member's e-mail.")
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = (
        "voucher_code",
        "membership_shown",
        "reward_shown",
        "points",
        "status_shown",
        "created_at",
        "expires_at",
        "used_at",
        "used_by_partner",
        "cancelled_at",
    )
    readonly_fields = fields
    actions = ["cancel_redemptions", "mark_used"]
    membership_shown = field_shown("membership", _("membership"))
    reward_shown = field_shown("reward", _("reward"), ordering="reward__name")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related(
                "membership__customer", "membership__program", "reward", "used_by_partner"
            )
        )

    @admin.display(description=_("status"), ordering="status")
    def status_shown(self, obj):
        return VoucherStatus(voucher_status(obj)).label

    def _apply(self, request, queryset, operation, done_message):
        done = 0
        for redemption in queryset.order_by("pk"):
            try:
                operation(redemption)
            except LoyaltyError as error:
                self.message_user(
                    request,
                    _("%(voucher)s: %(error)s")
                    % {"voucher": redemption.voucher_code, "error": error.message},
                    messages.ERROR,
                )
            else:
                done += 1
        if done:
            self.message_user(request, done_message % {"count": done}, messages.SUCCESS)

    @admin.action(
        description=_("Cancel selected redemptions (points and stock go back)"),
        permissions=["operate"],
    )
    def cancel_redemptions(self, request, queryset):
        actor = Actor.for_staff(request.user)
        self._apply(
            request,
            queryset,
            lambda redemption: redemption_cancel(redemption=redemption, actor=actor),
            _("%(count)s redemptions cancelled."),
        )

    @admin.action(description=_("Mark selected vouchers as used"), permissions=["operate"])
    def mark_used(self, request, queryset):
        self._apply(
            request,
            queryset,
            lambda redemption: redemption_use(redemption=redemption, partner=None),
            _("%(count)s vouchers marked as used."),
        )
