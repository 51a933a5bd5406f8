"""Writes to customers. Callers: the partner API, the portal sign-up, the admin, imports."""

from django.db import transaction

from customers.emails import email_normalize
from customers.models import CommunicationPreferences, Customer, CustomerKind


def customer_create(
    *,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    language: str = "de",
    birth_date=None,
    user=None,
) -> Customer:
    email = (email or "").strip()
    return Customer.objects.create(
        email=email,
        email_normalized=email_normalize(email),
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        language=language,
        birth_date=birth_date,
        user=user,
    )


def customer_create_shared(*, name: str, language: str = "de") -> Customer:
    """The customer that stands for a shared account (a business, a household): no login,
    no e-mail, its name as the last name."""
    return Customer.objects.create(
        kind=CustomerKind.SHARED, last_name=name.strip()[:150], language=language
    )


def customers_create_many(people: list[dict]) -> list[Customer]:
    """``customer_create`` for each dict (its keyword arguments, plus ``consents``: the
    e-mail switches to store, may be empty), one insert per table (an import's chunk)."""
    customers = Customer.objects.bulk_create(
        [
            Customer(
                email=(person.get("email") or "").strip(),
                email_normalized=email_normalize(person.get("email") or ""),
                first_name=(person.get("first_name") or "").strip(),
                last_name=(person.get("last_name") or "").strip(),
                language=person.get("language") or "de",
                birth_date=person.get("birth_date"),
            )
            for person in people
        ]
    )
    CommunicationPreferences.objects.bulk_create(
        [
            CommunicationPreferences(customer=customer, **person["consents"])
            for person, customer in zip(people, customers, strict=True)
            if person.get("consents")
        ]
    )
    return customers


@transaction.atomic
def customer_update(customer: Customer, **fields) -> Customer:
    """Update the given fields; keeps the normalised e-mail in step with the e-mail."""
    allowed = {"email", "first_name", "last_name", "language", "birth_date"}
    unknown = set(fields) - allowed
    if unknown:
        raise TypeError(f"customer_update() got unexpected fields: {sorted(unknown)}")
    for name, value in fields.items():
        setattr(customer, name, value.strip() if isinstance(value, str) else value)
    if "email" in fields:
        customer.email_normalized = email_normalize(customer.email)
    customer.save()
    return customer
