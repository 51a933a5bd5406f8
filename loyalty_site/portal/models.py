from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class EmailConfirmation(models.Model):
    """A portal sign-up whose e-mail address is not yet (or has been) confirmed.

    Only portal sign-ups create one: logins made by staff or the demo are trusted. While
    ``confirmed_at`` is empty the customer cannot redeem rewards. When the address already
    belonged to a customer without a login (e.g. enrolled by a partner), that customer is
    linked to the login only on confirmation: ``program`` and ``referral_code`` keep what
    the sign-up asked for until then.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("login"),
        on_delete=models.CASCADE,
        related_name="email_confirmation",
    )
    email = models.EmailField(_("e-mail"))
    program = models.ForeignKey(
        "programs.Program",
        verbose_name=_("program to join"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    referral_code = models.CharField(_("referral code"), max_length=16, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    confirmed_at = models.DateTimeField(_("confirmed"), null=True, blank=True)

    class Meta:
        verbose_name = _("e-mail confirmation")
        verbose_name_plural = _("e-mail confirmations")

    def __str__(self) -> str:
        return self.email
