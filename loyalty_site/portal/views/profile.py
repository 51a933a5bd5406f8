import json

from django import forms
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from django.shortcuts import redirect
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import TemplateView

from customers.models import CommunicationPreferences
from customers.preferences import (
    PREFERENCE_FIELDS,
    customer_preferences,
    customer_preferences_update,
)
from customers.services import customer_update
from loyalty_site.portal.emails import password_changed_email_after_commit
from loyalty_site.portal.export import customer_data_export
from loyalty_site.portal.forms import DeletionRequestForm, PasswordChangeForm, ProfileForm
from loyalty_site.portal.limits import limit_wait, too_many_attempts
from loyalty_site.portal.services import account_deletion_request
from loyalty_site.portal.views.base import PortalMixin, redirect_in_language, url_in


def preferences_form(customer, data=None) -> forms.Form:
    """One checkbox per switch of customers.preferences, labelled by the model."""
    current = customer_preferences(customer)
    fields = {
        name: forms.BooleanField(
            label=CommunicationPreferences._meta.get_field(name).verbose_name,
            required=False,
            initial=current[name],
        )
        for name in PREFERENCE_FIELDS
    }
    return type("PreferencesForm", (forms.Form,), fields)(data)


class ProfileView(PortalMixin, TemplateView):
    template_name = "portal/profile.html"
    needs_membership = False

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        customer = self.customer
        context.setdefault(
            "form",
            ProfileForm(
                initial={
                    "first_name": customer.first_name,
                    "last_name": customer.last_name,
                    "language": customer.language,
                }
            ),
        )
        context.setdefault("deletion_form", DeletionRequestForm())
        context.setdefault("preferences_form", preferences_form(customer))
        context.setdefault("password_form", PasswordChangeForm(self.request.user))
        return context

    def post(self, request, *args, **kwargs):
        form = ProfileForm(request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        customer = customer_update(self.customer, **form.cleaned_data)
        language = customer.language
        with translation.override(language):
            messages.success(request, _("Your profile is saved."))
        return redirect_in_language(request, url_in(language, "portal:profile"), language)


class DataExportView(PortalMixin, View):
    """All we hold about the customer, as one JSON file."""

    needs_membership = False

    def get(self, request):
        data = customer_data_export(customer=self.customer)
        body = json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2)
        response = HttpResponse(body, content_type="application/json; charset=utf-8")
        stamp = timezone.localdate().isoformat()
        response["Content-Disposition"] = f'attachment; filename="my-data-{stamp}.json"'
        return response


class DeletionRequestView(PortalMixin, TemplateView):
    template_name = "portal/profile.html"
    needs_membership = False

    def post(self, request):
        form = DeletionRequestForm(request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(deletion_form=form), status=400)
        account_deletion_request(customer=self.customer)
        messages.success(
            request,
            _("We received your request. Our team will delete your account within 30 days."),
        )
        return redirect("portal:profile")


class PreferencesView(PortalMixin, TemplateView):
    template_name = "portal/profile.html"
    needs_membership = False

    def post(self, request):
        form = preferences_form(self.customer, request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(preferences_form=form), status=400)
        customer_preferences_update(self.customer, **form.cleaned_data)
        messages.success(request, _("Your communication preferences are saved."))
        return redirect("portal:profile")


class PasswordChangeView(PortalMixin, TemplateView):
    """The profile's "change password": the current password and a new one. Other sessions
    of the login end; this one stays signed in."""

    template_name = "portal/profile.html"
    needs_membership = False

    def post(self, request):
        if wait := limit_wait("password_change", request, email=request.user.email):
            return too_many_attempts(request, wait)
        form = PasswordChangeForm(request.user, request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(password_form=form), status=400)
        user = form.save()
        update_session_auth_hash(request, user)
        password_changed_email_after_commit(self.customer)
        messages.success(request, _("Your new password is saved."))
        return redirect("portal:profile")
