from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from customers.models import Language
from loyalty_site.portal.wording import HISTORY_KINDS


class LoginForm(AuthenticationForm):
    """Customers sign in with their e-mail address (the field stays "username" for axes)."""

    username = forms.CharField(
        label=_("E-mail address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )
    error_messages = {
        "invalid_login": _("E-mail address or password is wrong. Please try again."),
        "inactive": _("This account is inactive."),
    }


class SignupForm(forms.Form):
    first_name = forms.CharField(
        label=_("First name"),
        max_length=150,
        widget=forms.TextInput({"autocomplete": "given-name"}),
    )
    last_name = forms.CharField(
        label=_("Last name"),
        max_length=150,
        widget=forms.TextInput({"autocomplete": "family-name"}),
    )
    email = forms.EmailField(
        label=_("E-mail address"),
        max_length=254,
        widget=forms.EmailInput({"autocomplete": "email"}),
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput({"autocomplete": "new-password"}),
        help_text=_("At least 8 characters, not only digits, not a common password."),
    )
    language = forms.ChoiceField(label=_("Language"), choices=Language.choices)
    terms = forms.BooleanField(
        label=_("I agree that my purchases are recorded to collect points."), required=True
    )

    def clean(self):
        data = super().clean()
        password = data.get("password")
        if password:
            from django.contrib.auth import get_user_model

            probe = get_user_model()(
                username=data.get("email", ""),
                email=data.get("email", ""),
                first_name=data.get("first_name", ""),
                last_name=data.get("last_name", ""),
            )
            try:
                password_validation.validate_password(password, probe)
            except forms.ValidationError as error:
                self.add_error("password", error)
        return data


class HistoryFilterForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Type"),
        required=False,
        choices=[("", _("All"))] + [(key, label) for key, (label, _kinds) in HISTORY_KINDS.items()],
    )
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            raise forms.ValidationError(_("The start date must be before the end date."))
        return data


class ProfileForm(forms.Form):
    first_name = forms.CharField(label=_("First name"), max_length=150)
    last_name = forms.CharField(label=_("Last name"), max_length=150)
    language = forms.ChoiceField(label=_("Language"), choices=Language.choices)


class DeletionRequestForm(forms.Form):
    confirm = forms.BooleanField(
        label=_("Yes, I want my account and my points to be deleted."), required=True
    )


class PasswordChangeForm(forms.Form):
    """A signed-in member sets a new password by giving the current one (the forgotten
    password goes through the e-mailed reset link instead)."""

    current_password = forms.CharField(
        label=_("Current password"),
        strip=False,
        widget=forms.PasswordInput({"autocomplete": "current-password"}),
    )
    new_password = forms.CharField(
        label=_("New password"),
        strip=False,
        widget=forms.PasswordInput({"autocomplete": "new-password"}),
        help_text=_("At least 8 characters, not only digits, not a common password."),
    )

    def __init__(self, user, *args, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)

    def clean_current_password(self):
        password = self.cleaned_data["current_password"]
        if not self.user.check_password(password):
            raise forms.ValidationError(_("This is not your current password."))
        return password

    def clean_new_password(self):
        password = self.cleaned_data["new_password"]
        password_validation.validate_password(password, self.user)
        return password

    def clean(self):
        data = super().clean()
        if data.get("current_password") and data.get("current_password") == data.get(
            "new_password"
        ):
            self.add_error("new_password", _("The new password must differ from the current one."))
        return data

    def save(self):
        self.user.set_password(self.cleaned_data["new_password"])
        self.user.save(update_fields=["password"])
        return self.user


# --- shared accounts ----------------------------------------------------------------------


class AccountInviteForm(forms.Form):
    email = forms.EmailField(
        label=_("E-mail address of the person you invite"),
        max_length=254,
        widget=forms.EmailInput({"autocomplete": "off"}),
    )
    role = forms.ChoiceField(label=_("Role"))

    def __init__(self, *args, roles=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [(role.value, role.label) for role in roles]


class AccountMemberForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"))
    monthly_limit = forms.IntegerField(
        label=_("Monthly redemption limit (points)"),
        required=False,
        min_value=0,
        help_text=_("Empty: no limit."),
    )

    def __init__(self, *args, roles=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [(role.value, role.label) for role in roles]


class GivePointsForm(forms.Form):
    """Points for the own shared account, a fellow member, or (where the program allows)
    another member by card number. ``key``: one per form shown, so a second submission of
    the same form gives nothing twice."""

    CARD = "card"

    recipient = forms.ChoiceField(label=_("Recipient"))
    card_number = forms.CharField(
        label=_("Card number of the recipient"),
        required=False,
        max_length=30,
        help_text=_("Only when you give to another member: the number on their card."),
        widget=forms.TextInput({"inputmode": "numeric", "autocomplete": "off"}),
    )
    points = forms.IntegerField(label=_("Points"), min_value=1)
    message = forms.CharField(label=_("Message (optional)"), required=False, max_length=200)
    key = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args, recipients=(), by_card=False, **kwargs):
        super().__init__(*args, **kwargs)
        choices = list(recipients)
        if by_card:
            choices.append((self.CARD, _("Another member, by card number")))
        else:
            del self.fields["card_number"]
        self.fields["recipient"].choices = choices

    def clean(self):
        data = super().clean()
        if data.get("recipient") == self.CARD:
            card = "".join(ch for ch in data.get("card_number", "") if ch.isdigit())
            if not card:
                self.add_error("card_number", _("Enter the card number of the recipient."))
            data["card_number"] = card
        return data
