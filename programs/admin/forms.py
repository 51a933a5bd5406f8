"""Forms for the admin operations. They check the shape of the input; the services decide
whether the operation is allowed and raise a domain error when it is not."""

import uuid
from decimal import Decimal, InvalidOperation

from django import forms
from django.conf import settings
from django.contrib.admin import widgets
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import Customer
from programs.models import Membership, Partner, Program, Purchase, Tier, TierKind
from programs.services.purchase_refunds import RefundLine
from programs.services.purchases import LineData

ADJUSTMENT_KEY_PREFIX = "staff-adjust:"
LINE_TEXT_MAX = 64


def adjustment_key_new() -> str:
    """The idempotency key of one adjustment form, made when the form is shown: submitting
    the same form twice carries the same key, so the points are booked once."""
    return f"{ADJUSTMENT_KEY_PREFIX}{uuid.uuid4()}"


def reference_new(kind: str) -> str:
    return f"admin-{kind}-{uuid.uuid4().hex[:12]}"


def now_to_the_second():
    return timezone.now().replace(microsecond=0)


class NameChoiceField(forms.ModelChoiceField):
    """Choices labelled by name alone (a tier's str() would load its program per row)."""

    def label_from_instance(self, obj):
        return obj.name


def parse_decimal(text: str) -> Decimal:
    """``1.49`` or ``1,49``; no thousands separators."""
    text = text.strip()
    if "," in text and "." not in text:
        text = text.replace(",", ".")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(text) from None
    if not value.is_finite():
        raise ValueError(text)
    return value


def parse_positive_int(text: str) -> int:
    value = int(text.strip())
    if value < 1:
        raise ValueError(text)
    return value


def _rows(text: str):
    """(row number, fields) for every non-blank row; numbers count the rows as typed."""
    for number, row in enumerate(text.splitlines(), start=1):
        if row.strip():
            yield number, [part.strip() for part in row.split(";")]


def purchase_lines_parse(text: str) -> list[LineData]:
    """``sku;category;quantity;unit price`` per row; every bad row is reported by number."""
    lines, errors = [], []
    for number, parts in _rows(text):
        if len(parts) != 4:
            errors.append(
                _("Row %(row)s: give four values separated by ';' (sku;category;qty;unit price).")
                % {"row": number}
            )
            continue
        sku, category, quantity, unit_price = parts
        row_errors = []
        if not sku and not category:
            row_errors.append(_("Row %(row)s: give a SKU, a category or both.") % {"row": number})
        if len(sku) > LINE_TEXT_MAX or len(category) > LINE_TEXT_MAX:
            row_errors.append(
                _("Row %(row)s: SKU and category may have at most %(max)s characters.")
                % {"row": number, "max": LINE_TEXT_MAX}
            )
        try:
            quantity = parse_positive_int(quantity)
        except ValueError:
            row_errors.append(
                _(
                    "Row %(row)s: the quantity must be a whole number of at least 1, "
                    "not '%(value)s'."
                )
                % {"row": number, "value": quantity}
            )
        try:
            unit_price = parse_decimal(unit_price)
            if unit_price < 0:
                raise ValueError(unit_price)
        except ValueError:
            row_errors.append(
                _("Row %(row)s: the unit price must be an amount such as 1.49, not '%(value)s'.")
                % {"row": number, "value": parts[3]}
            )
        if row_errors:
            errors.extend(row_errors)
            continue
        lines.append(LineData(sku=sku, category=category, quantity=quantity, unit_price=unit_price))
    if errors:
        raise ValidationError(errors)
    return lines


def refund_lines_parse(text: str) -> list[RefundLine]:
    """``line number;quantity`` per row."""
    lines, errors = [], []
    for number, parts in _rows(text):
        try:
            if len(parts) != 2:
                raise ValueError(parts)
            lines.append(
                RefundLine(
                    line_no=parse_positive_int(parts[0]), quantity=parse_positive_int(parts[1])
                )
            )
        except ValueError:
            errors.append(
                _("Row %(row)s: give the line number and the quantity returned, e.g. '2;1'.")
                % {"row": number}
            )
    if errors:
        raise ValidationError(errors)
    return lines


class PointsAdjustForm(forms.Form):
    points = forms.IntegerField(
        label=_("points"),
        help_text=_("Positive to credit points, negative to take points away."),
    )
    reason = forms.CharField(
        label=_("reason"),
        max_length=255,
        help_text=_("Kept in the ledger; the member may ask about it."),
    )
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=200)

    def clean_points(self):
        points = self.cleaned_data["points"]
        if points == 0:
            raise ValidationError(_("An adjustment of 0 points changes nothing."))
        return points

    def clean_idempotency_key(self):
        key = self.cleaned_data["idempotency_key"]
        suffix = key.removeprefix(ADJUSTMENT_KEY_PREFIX)
        try:
            valid = key.startswith(ADJUSTMENT_KEY_PREFIX) and str(uuid.UUID(suffix)) == suffix
        except ValueError:
            valid = False
        if not valid:
            raise ValidationError(_("This form is no longer valid; open it again."))
        return key


class TierOverrideForm(forms.Form):
    tier = NameChoiceField(
        label=_("tier"),
        queryset=Tier.objects.none(),
        required=False,
        empty_label=_("(none: end the staff tier)"),
    )
    until = forms.SplitDateTimeField(
        label=_("until"),
        required=False,
        widget=widgets.AdminSplitDateTime,
        help_text=_("Empty: until staff change it again."),
    )
    reason = forms.CharField(label=_("reason"), max_length=255)

    def __init__(self, *args, membership: Membership, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tier"].queryset = membership.program.tiers.order_by("rank")


class SubscriptionSellForm(forms.Form):
    tier = NameChoiceField(label=_("tier"), queryset=Tier.objects.none())
    partner = forms.ModelChoiceField(
        label=_("sold by"),
        queryset=Partner.objects.none(),
        help_text=_("The fee is recorded as a purchase at this partner."),
    )
    order_id = forms.CharField(
        label=_("order id"),
        max_length=100,
        help_text=_("The receipt number; the same order id is never charged twice."),
    )

    def __init__(self, *args, membership: Membership, **kwargs):
        super().__init__(*args, **kwargs)
        program = membership.program
        self.fields["tier"].queryset = program.tiers.filter(kind=TierKind.SUBSCRIPTION)
        self.fields["partner"].queryset = program.partners.filter(is_active=True)


class CustomerEnrollForm(forms.Form):
    program = forms.ModelChoiceField(label=_("program"), queryset=Program.objects.none())

    def __init__(self, *args, customer: Customer, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["program"].queryset = Program.objects.filter(is_active=True).exclude(
            memberships__customer=customer
        )


def autocomplete_field(model, name: str, admin_site, **kwargs) -> forms.ModelChoiceField:
    """A choice of ``model.name``'s related rows, searched through that model's admin."""
    field = model._meta.get_field(name)
    return forms.ModelChoiceField(
        widget=widgets.AutocompleteSelect(field, admin_site), label=field.verbose_name, **kwargs
    )


class MembershipEnrollForm(forms.Form):
    program = forms.ModelChoiceField(
        label=_("program"), queryset=Program.objects.filter(is_active=True)
    )

    def __init__(self, *args, admin_site, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["customer"] = autocomplete_field(
            Membership, "customer", admin_site, queryset=Customer.objects.all()
        )
        self.order_fields(["customer", "program"])


def _currency_choices():
    return [(code, code) for code in sorted(settings.CURRENCY_DECIMALS)]


class PurchaseEntryForm(forms.Form):
    partner = forms.ModelChoiceField(
        label=_("partner"), queryset=Partner.objects.filter(is_active=True)
    )
    order_id = forms.CharField(label=_("order id"), max_length=100)
    amount = forms.DecimalField(
        label=_("amount"),
        max_digits=settings.MONEY_MAX_DIGITS,
        decimal_places=settings.MONEY_DECIMAL_PLACES,
        min_value=Decimal("0.01"),
    )
    currency = forms.ChoiceField(
        label=_("currency"), choices=_currency_choices, initial=settings.DEFAULT_CURRENCY
    )
    occurred_at = forms.SplitDateTimeField(
        label=_("purchased at"), widget=widgets.AdminSplitDateTime, initial=now_to_the_second
    )
    lines = forms.CharField(
        label=_("lines"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 60}),
        help_text=_(
            "Optional. One line per row: sku;category;quantity;unit price, "
            "e.g. <code>4006381333931;drinks;2;1.49</code>. The lines must add up to the amount."
        ),
    )

    def __init__(self, *args, admin_site, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["membership"] = autocomplete_field(
            Purchase,
            "membership",
            admin_site,
            queryset=Membership.objects.select_related("customer", "program"),
        )
        self.order_fields(["membership"])

    def clean_lines(self):
        return purchase_lines_parse(self.cleaned_data["lines"])


class RefundForm(forms.Form):
    refund_id = forms.CharField(
        label=_("refund id"),
        max_length=100,
        help_text=_("The return's reference; the same refund id is never applied twice."),
    )
    amount = forms.DecimalField(
        label=_("amount"),
        required=False,
        max_digits=settings.MONEY_MAX_DIGITS,
        decimal_places=settings.MONEY_DECIMAL_PLACES,
        min_value=Decimal("0.01"),
        help_text=_("For a refund without lines. With lines, leave empty or give their value."),
    )
    lines = forms.CharField(
        label=_("returned lines"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 40}),
        help_text=_("One row per returned line: line number;quantity, e.g. <code>2;1</code>."),
    )

    def clean_lines(self):
        return refund_lines_parse(self.cleaned_data["lines"])

    def clean(self):
        cleaned = super().clean()
        if not self.errors and cleaned.get("amount") is None and not cleaned.get("lines"):
            raise ValidationError(_("Give the returned lines or an amount."))
        return cleaned


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("reason"),
        max_length=255,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Kept with the record; the member may ask about it."),
    )


class ConfirmForm(forms.Form):
    """No input: the page only asks staff to confirm."""
