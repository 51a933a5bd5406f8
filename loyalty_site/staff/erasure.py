"""When a customer's personal data is erased (``customers.privacy.customer_anonymize``), the
staff audit log keeps its rows about them but loses the personal values in them: their
name, e-mail and birth date wherever a row holds them, and the values of the fields that
hold personal data (identity, and the free text of notes and comments about them). The
admin's own change history (``LogEntry``) names the records by their old titles: those
become their ids.

The step is registered here because only this layer knows both the customer
(``customers``) and the log (``loyalty_site.core``); it runs before the customer's fields
are blanked, while the values to look for are still known."""

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType

from customers.privacy import erasure_step
from loyalty_site.core.audit import audit_redact
from programs.models import Membership

# Fields of the customer, their portal login and notes about them that hold personal data.
PERSONAL_FIELDS = (
    "email",
    "email_normalized",
    "first_name",
    "last_name",
    "birth_date",
    "username",
    "text",
    "comment",
)


@erasure_step("loyalty_site: redact the staff audit log")
def audit_log_redact(*, customer, user) -> None:
    values = [
        customer.email,
        customer.email_normalized,
        customer.full_name,
        customer.first_name,
        customer.last_name,
        customer.birth_date.isoformat() if customer.birth_date else "",
    ]
    if customer.user_id:
        login = customer.user
        values += [login.username, login.email, login.get_full_name()]
    audit_redact(customer_id=customer.pk, fields=PERSONAL_FIELDS, values=values)
    admin_history_untitle(customer)


def admin_history_untitle(customer) -> None:
    """The admin's history rows of the customer, their login and memberships, by id only."""
    records = [(customer, [customer.pk])]
    if customer.user_id:
        records.append((customer.user, [customer.user_id]))
    memberships = list(Membership.objects.filter(customer=customer).values_list("pk", flat=True))
    records.append((Membership, memberships))
    for model, pks in records:
        content_type = ContentType.objects.get_for_model(model)
        for pk in pks:
            LogEntry.objects.filter(content_type=content_type, object_id=str(pk)).update(
                object_repr=f"#{pk}"
            )
