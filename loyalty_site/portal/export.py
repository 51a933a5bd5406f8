"""Everything the platform holds about one customer, for "download my data" (GDPR Art. 15).

Each app says what it holds about a person in its ``privacy`` module (``customers``,
``programs``, ``surveys``); this module puts their parts together with what staff did to
the person's records (the audit log, without the names of staff). Staff's notes are
counted, not handed out (``customers.privacy``), and neither are their audit entries,
which hold the notes' text. One query per kind of record, however long the history is.
"""

from customers.models import Customer, CustomerNote
from customers.privacy import customer_data
from loyalty_site.core.audit import audit_entries_about, label_of
from programs.privacy import programs_data
from surveys.privacy import surveys_data


def customer_data_export(*, customer: Customer) -> dict:
    return {
        **customer_data(customer=customer),
        **programs_data(customer=customer),
        **surveys_data(customer=customer),
        "staff_actions": audit_entries_about(
            customer_id=customer.pk, leave_out=[label_of(CustomerNote)]
        ),
    }
