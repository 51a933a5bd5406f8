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
