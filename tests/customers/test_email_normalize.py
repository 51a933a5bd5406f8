"""E-mail normalisation for self-referral checks: the mailbox an address is delivered to."""

import pytest

from customers.emails import email_normalize
from customers.services import customer_create, customer_update


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ("Max.Muster+shop@GoogleMail.com", "maxmuster@gmail.com"),  # alias, dots, +tag
        ("m.a.x@gmail.com", "max@gmail.com"),  # Gmail ignores dots
        ("max+a+b@gmail.com", "max@gmail.com"),  # everything after the first +
        ("  MAX@Example.COM ", "max@example.com"),  # trimmed, lower-cased
        ("max.muster@web.de", "max.muster@web.de"),  # other providers read the dots
        ("max.muster+newsletter@web.de", "max.muster@web.de"),  # but drop +tags
        ("max@gmail.com.evil.example", "max@gmail.com.evil.example"),  # not Gmail
        ("not-an-address", "not-an-address"),
        ("", ""),
        (None, ""),
    ],
)
def test_email_normalize(email, expected):
    assert email_normalize(email) == expected


def test_same_mailbox_normalises_the_same():
    variants = ["Erika.Muster@gmail.com", "erikamuster+x@googlemail.com", "ERIKA.MUSTER@GMAIL.COM"]
    assert {email_normalize(v) for v in variants} == {"erikamuster@gmail.com"}


def test_customer_services_keep_the_normalised_email_in_step(db):
    customer = customer_create(email=" Erika.Muster+shop@gmail.com ")
    assert customer.email == "Erika.Muster+shop@gmail.com"
    assert customer.email_normalized == "erikamuster@gmail.com"
    customer_update(customer, email="erika+neu@web.de")
    customer.refresh_from_db()
    assert customer.email_normalized == "erika@web.de"
