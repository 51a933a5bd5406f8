"""Forms for the shared-account pages of the staff admin (create, add, change and remove
members, invite, close). Kept apart from ``programs.admin.forms`` so each stays small;
they check the input's shape and find the member, the services decide the rest."""

from django import forms
from django.utils.translation import gettext_lazy as _

from customers.emails import email_normalize
from programs.cards import card_number_clean
from programs.models import ROLES, Account, AccountKind, AccountMember, Membership, Program

LEAVING_RULE = _(
    "Leaving takes the member's future purchases out of the pool; the points they earned "
    "into the account stay with the account."
)
CLOSING_RULE = _(
    "Closing settles the account: its available points go to the managing member's own "
    "membership as a transfer (their expiry dates stay). An account with points held by a "
    "partner, pending points or a debt closes only once these are settled. Every member "
    "leaves, open invitations are withdrawn, and the account cannot be reopened."
)


def membership_lookup(program: Program, text: str) -> Membership:
    """The membership in ``program`` with this card number or customer e-mail."""
    text = (text or "").strip()
    memberships = Membership.objects.filter(program=program).select_related("customer")
    number = card_number_clean(text)
    if number is not None:
        found = memberships.filter(card_number=number).first()
    elif "@" in text:
        found = memberships.filter(customer__email_normalized=email_normalize(text)).first()
    else:
        raise forms.ValidationError(_("Enter a card number (16 digits) or an e-mail address."))
    if found is None:
        raise forms.ValidationError(
            _("No member of %(program)s has this card number or e-mail.")
            % {"program": program.name}
        )
    return found


MEMBER_LOOKUP_HELP = _("The member's card number or the customer's e-mail address.")


def role_choices(kind: str) -> list[tuple[str, str]]:
    return [(role.value, role.label) for role in ROLES[kind]]


class AccountCreateForm(forms.Form):
    program = forms.ModelChoiceField(
        label=_("program"), queryset=Program.objects.filter(is_active=True)
    )
    kind = forms.ChoiceField(label=_("kind"), choices=AccountKind.choices)
    name = forms.CharField(label=_("name"), max_length=200)
    vat_id = forms.CharField(
        label=_("VAT id"), max_length=20, required=False, help_text=_("Businesses only.")
    )
    street = forms.CharField(label=_("street"), max_length=200, required=False)
    postal_code = forms.CharField(label=_("postal code"), max_length=20, required=False)
    city = forms.CharField(label=_("city"), max_length=100, required=False)
    country = forms.CharField(label=_("country"), max_length=2, initial="DE", required=False)
    requires_po_reference = forms.BooleanField(
        label=_("purchase order reference required"), required=False
    )
    manager = forms.CharField(
        label=_("managing member"),
        required=False,
        help_text=_(
            "Card number or e-mail of the member who manages the account (owner of a "
            "business, head of a household). Empty: add members later."
        ),
    )

    def clean(self):
        data = super().clean()
        program, text = data.get("program"), data.get("manager", "").strip()
        data["manager"] = None
        if program is not None and text:
            try:
                data["manager"] = membership_lookup(program, text)
            except forms.ValidationError as error:
                self.add_error("manager", error)
        return data


class MemberAddForm(forms.Form):
    member = forms.CharField(label=_("member"), help_text=MEMBER_LOOKUP_HELP)
    role = forms.ChoiceField(label=_("role"))
    monthly_limit = forms.IntegerField(
        label=_("monthly redemption limit"),
        min_value=1,
        required=False,
        help_text=_("Points this member may redeem from the account per month; empty: no limit."),
    )

    def __init__(self, *args, account: Account, **kwargs):
        super().__init__(*args, **kwargs)
        self.account = account
        self.fields["role"].choices = role_choices(account.kind)

    def clean_member(self):
        return membership_lookup(self.account.program, self.cleaned_data["member"])


class MemberChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        customer = obj.membership.customer
        return f"{customer} ({obj.get_role_display()})"


def current_members(account: Account):
    return (
        AccountMember.objects.filter(account=account, left_at__isnull=True)
        .select_related("membership__customer")
        .order_by("joined_at", "pk")
    )


class MemberUpdateForm(forms.Form):
    member = MemberChoiceField(label=_("member"), queryset=AccountMember.objects.none())
    role = forms.ChoiceField(label=_("role"))
    monthly_limit = forms.IntegerField(
        label=_("monthly redemption limit"),
        min_value=1,
        required=False,
        help_text=_("Empty: no limit."),
    )

    def __init__(self, *args, account: Account, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["member"].queryset = current_members(account)
        self.fields["role"].choices = role_choices(account.kind)


class MemberRemoveForm(forms.Form):
    member = MemberChoiceField(label=_("member"), queryset=AccountMember.objects.none())
    confirm = forms.BooleanField(label=_("Yes, remove this member"), help_text=LEAVING_RULE)

    def __init__(self, *args, account: Account, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["member"].queryset = current_members(account)


class InviteForm(forms.Form):
    email = forms.EmailField(label=_("e-mail"))
    role = forms.ChoiceField(label=_("role"))

    def __init__(self, *args, account: Account, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = role_choices(account.kind)


class CloseForm(forms.Form):
    note = forms.CharField(
        label=_("note"),
        max_length=255,
        required=False,
        help_text=_("Kept with the account; empty: the settlement is noted."),
    )
    confirm = forms.BooleanField(label=_("Yes, close this account"), help_text=CLOSING_RULE)
