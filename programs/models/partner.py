from django.db import models
from django.utils.translation import gettext_lazy as _

from .program import Program


class Partner(models.Model):
    """An organisation that integrates through the API: a web shop, a till system, a merchant."""

    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(_("slug"), unique=True)
    is_active = models.BooleanField(_("active"), default=True)
    programs = models.ManyToManyField(
        Program,
        verbose_name=_("programs"),
        related_name="partners",
        blank=True,
        help_text=_("Programs this partner may enroll members in and post purchases to."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("partner")
        verbose_name_plural = _("partners")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PartnerCustomer(models.Model):
    """A partner's own id for a customer. A partner sees only customers it has linked."""

    partner = models.ForeignKey(
        Partner, verbose_name=_("partner"), on_delete=models.CASCADE, related_name="customer_links"
    )
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="partner_links",
    )
    external_id = models.CharField(_("external id"), max_length=100)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("partner's customer id")
        verbose_name_plural = _("partners' customer ids")
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "external_id"], name="partnercustomer_unique_external_id"
            ),
            models.UniqueConstraint(
                fields=["partner", "customer"], name="partnercustomer_unique_customer"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.partner}: {self.external_id}"

    @property
    def partner_email(self) -> str:
        """The address as the partner knows it: the one it gave, while the customer it
        belongs to has not confirmed the link (``LinkClaim``)."""
        try:
            claim = self.claim
        except LinkClaim.DoesNotExist:
            claim = None
        if claim is not None and claim.is_open:
            return claim.email
        return self.customer.email


class LinkClaim(models.Model):
    """A partner's member whose e-mail address belongs to another customer: the partner's
    member stays a customer of its own (so the partner learns nothing about the other one)
    until that customer confirms in the portal that both are the same person; then the
    partner's member is merged into them (``programs.services.link_claims``)."""

    link = models.OneToOneField(
        PartnerCustomer,
        verbose_name=_("partner's member"),
        on_delete=models.CASCADE,
        related_name="claim",
    )
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer asked to confirm"),
        on_delete=models.CASCADE,
        related_name="link_claims",
    )
    email = models.EmailField(_("e-mail address given by the partner"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    confirmed_at = models.DateTimeField(_("confirmed"), null=True, blank=True)
    declined_at = models.DateTimeField(_("declined"), null=True, blank=True)

    class Meta:
        verbose_name = _("link waiting for the customer")
        verbose_name_plural = _("links waiting for the customer")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(confirmed_at__isnull=True) | models.Q(declined_at__isnull=True),
                name="linkclaim_confirmed_or_declined",
            )
        ]

    def __str__(self) -> str:
        return f"{self.link} → {self.email}"

    @property
    def is_open(self) -> bool:
        return self.confirmed_at is None and self.declined_at is None
