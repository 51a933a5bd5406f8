"""The audit log on every admin of the staff site: ``StaffAdminSite.register`` puts
``StaffAudit`` in front of each ModelAdmin it is given (``audited``). It adds what the
bottom package cannot know: which customer a record belongs to, so that erasing the
customer redacts the record's rows (``loyalty_site.staff.erasure``)."""

from django.contrib.auth import get_user_model

from customers.models import Customer
from loyalty_site.core.audited_admin import AuditedAdmin
from programs.models import Membership


def customer_of(obj) -> int | None:
    """The customer a record is about: the customer, their portal login, or a record
    holding their id or their membership's."""
    if isinstance(obj, Customer):
        return obj.pk
    if isinstance(obj, get_user_model()):
        return Customer.objects.filter(user_id=obj.pk).values_list("pk", flat=True).first()
    if (customer_id := getattr(obj, "customer_id", None)) is not None:
        return customer_id
    if (membership_id := getattr(obj, "membership_id", None)) is not None:
        members = Membership.objects.filter(pk=membership_id)
        return members.values_list("customer_id", flat=True).first()
    return None


class StaffAudit(AuditedAdmin):
    def audit_customer_id(self, obj) -> int | None:
        return customer_of(obj)


def audited(admin_class):
    """``admin_class`` with the audit log in front (itself if it has it already)."""
    if issubclass(admin_class, AuditedAdmin):
        return admin_class
    namespace = {
        "__module__": admin_class.__module__,
        "__qualname__": admin_class.__qualname__,
        "__doc__": admin_class.__doc__,
    }
    return type(admin_class)(admin_class.__name__, (StaffAudit, admin_class), namespace)
