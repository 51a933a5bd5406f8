"""Sign-up (enrollment and referral links), sign-in, e-mail confirmation, password reset."""

from functools import partial
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.mail import send_mail
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse, reverse_lazy
from django.utils import translation
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.http import require_POST
from django.views.generic import FormView

from customers.models import Customer
from loyalty_site.portal.forms import LoginForm, SignupForm
from loyalty_site.portal.limits import limit_wait, too_many_attempts
from loyalty_site.portal.models import EmailConfirmation
from loyalty_site.portal.services import (
    ConfirmationInvalid,
    EmailTaken,
    confirmation_token,
    email_confirm,
    login_lockout_end,
    portal_signup,
    program_join,
)
from loyalty_site.portal.views.base import client_ip, redirect_in_language, url_in
from loyalty_site.portal.wording import error_text
from programs.errors import LoyaltyError
from programs.models import Membership, Program
from surveys.engagement.activity import customer_activity_record
from surveys.engagement.models import ActivityKind

SESSION_REFERRAL = "portal_referral_code"
BACKEND = "loyalty_site.portal.backends.EmailOrUsernameBackend"


def confirmation_email_send(*, confirmation_id: int, url: str, language: str) -> None:
    confirmation = EmailConfirmation.objects.select_related("user").get(pk=confirmation_id)
    with translation.override(language):
        context = {"user": confirmation.user, "url": url}
        subject = render_to_string("portal/emails/confirm_subject.txt", context).strip()
        body = render_to_string("portal/emails/confirm.txt", context)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [confirmation.email])


def _send_confirmation(confirmation: EmailConfirmation) -> None:
    language = translation.get_language()
    url = settings.SITE_URL + reverse("portal:confirm", args=[confirmation_token(confirmation)])
    transaction.on_commit(
        partial(
            confirmation_email_send, confirmation_id=confirmation.pk, url=url, language=language
        )
    )


class SignupView(FormView):
    """Enrollment link of a program: /portal/join/<program>/ (optionally with a referral)."""

    template_name = "portal/signup.html"
    form_class = SignupForm

    def dispatch(self, request, *args, **kwargs):
        self.program = get_object_or_404(Program, slug=kwargs["program"], is_active=True)
        code = request.GET.get("ref") or request.session.get(SESSION_REFERRAL, "")
        self.referrer = (
            Membership.objects.select_related("customer")
            .filter(referral_code=code.strip().upper(), program=self.program)
            .first()
            if code and self.program.referral_enabled
            else None
        )
        self.customer = (
            Customer.objects.filter(user=request.user).first()
            if request.user.is_authenticated
            else None
        )
        return super().dispatch(request, *args, **kwargs)

    def get_initial(self):
        return {"language": translation.get_language()}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(program=self.program, referrer=self.referrer, customer=self.customer)
        if self.customer is not None:
            context["already_member"] = Membership.objects.filter(
                customer=self.customer, program=self.program
            ).exists()
        return context

    def post(self, request, *args, **kwargs):
        if self.customer is not None:  # signed in: join this program too
            try:
                program_join(customer=self.customer, program=self.program)
            except LoyaltyError as error:
                messages.error(request, error_text(error))
                return redirect("portal:dashboard")
            messages.success(request, _("Welcome to %(program)s!") % {"program": self.program})
            return redirect(f"{reverse('portal:dashboard')}?program={self.program.slug}")
        if request.user.is_authenticated:
            raise Http404("this login has no customer record")
        if wait := limit_wait("signup", request, email=request.POST.get("email")):
            return too_many_attempts(request, wait)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        data = form.cleaned_data
        try:
            signup = portal_signup(
                email=data["email"],
                password=data["password"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                language=data["language"],
                program=self.program,
                referral_code=self.referrer.referral_code if self.referrer else "",
                ip=client_ip(self.request),
            )
        except EmailTaken as error:
            form.add_error("email", str(error.message))
            return self.form_invalid(form)
        self.request.session.pop(SESSION_REFERRAL, None)
        login(self.request, signup.user, backend=BACKEND)
        with translation.override(data["language"]):
            _send_confirmation(signup.confirmation)
            messages.success(
                self.request,
                _("Welcome! We sent you an e-mail: please confirm your address with its link."),
            )
        language = data["language"]
        return redirect_in_language(self.request, url_in(language, "portal:dashboard"), language)


class ReferralView(View):
    """A friend's link /r/<code>: remember the code, go to the program's sign-up."""

    def get(self, request, code):
        if wait := limit_wait("referral", request):
            return too_many_attempts(request, wait)
        referrer = (
            Membership.objects.select_related("program", "customer")
            .filter(referral_code=code.strip().upper(), program__is_active=True)
            .first()
        )
        if referrer is None or not referrer.program.referral_enabled:
            return render(request, "portal/referral_invalid.html", status=404)
        request.session[SESSION_REFERRAL] = referrer.referral_code
        url = reverse("portal:signup", args=[referrer.program.slug])
        return redirect(f"{url}?ref={referrer.referral_code}")


class LoginView(auth_views.LoginView):
    template_name = "portal/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def form_valid(self, form):
        super().form_valid(form)
        customer = Customer.objects.filter(user=form.get_user()).first()
        if customer is not None:
            customer_activity_record(customer, ActivityKind.LOGIN)
        language = customer.language if customer else translation.get_language()
        target = self.request.POST.get("next") or self.request.GET.get("next")
        if not target or not url_has_allowed_host_and_scheme(
            target, {self.request.get_host()}, require_https=self.request.is_secure()
        ):
            target = url_in(language, "portal:dashboard" if customer else "home")
        return redirect_in_language(self.request, target, language)


class LogoutView(auth_views.LogoutView):
    next_page = reverse_lazy("home")


class ConfirmView(View):
    def get(self, request, token):
        try:
            email_confirm(token=token, ip=client_ip(request))
        except ConfirmationInvalid:
            return render(request, "portal/confirm_invalid.html", status=400)
        messages.success(request, _("Thank you, your e-mail address is confirmed."))
        return redirect("portal:dashboard" if request.user.is_authenticated else "portal:login")


@method_decorator(require_POST, name="dispatch")
@method_decorator(login_required, name="dispatch")
class ConfirmResendView(View):
    def post(self, request):
        if wait := limit_wait("confirm_resend", request, email=request.user.email):
            return too_many_attempts(request, wait)
        confirmation = EmailConfirmation.objects.filter(
            user=request.user, confirmed_at__isnull=True
        ).first()
        if confirmation is not None:
            _send_confirmation(confirmation)
        messages.success(request, _("We sent the confirmation link again."))
        back = request.POST.get("next", "")
        if back and url_has_allowed_host_and_scheme(
            back, {request.get_host()}, require_https=request.is_secure()
        ):
            return redirect(back)
        return redirect("portal:dashboard")


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "portal/password_reset_form.html"
    email_template_name = "portal/emails/password_reset.txt"
    subject_template_name = "portal/emails/password_reset_subject.txt"
    success_url = reverse_lazy("portal:password_reset_done")

    def post(self, request, *args, **kwargs):
        if wait := limit_wait("password_reset", request, email=request.POST.get("email")):
            return too_many_attempts(request, wait)
        return super().post(request, *args, **kwargs)

    @property
    def extra_email_context(self):
        """The link's host comes from SITE_URL, never from the request's Host header."""
        site = urlsplit(settings.SITE_URL)
        return {
            "site_url": settings.SITE_URL,
            "protocol": site.scheme,
            "domain": site.netloc,
            "site_name": site.netloc,
        }


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "portal/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "portal/password_reset_confirm.html"
    success_url = reverse_lazy("portal:password_reset_complete")

    def form_valid(self, form):
        response = super().form_valid(form)
        # The member proved the mailbox: a lockout after failed logins ends with it.
        login_lockout_end(user=form.user)
        return response


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "portal/password_reset_complete.html"
