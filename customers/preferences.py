"""Communication preferences: which notifications a customer also gets by e-mail.

The portal builds its profile form on these two functions:

``customer_preferences(customer: Customer) -> dict[str, bool]``
    Every switch in ``PREFERENCE_FIELDS`` with its current value; defaults (see below)
    for a customer who never saved any. Reading never writes.

``customer_preferences_update(customer: Customer, **switches: bool) -> dict[str, bool]``
    Set some switches (names from ``PREFERENCE_FIELDS``; anything else raises
    ``TypeError``, a non-bool ``ValueError``) and return all of them, as
    ``customer_preferences`` does. Creates the row on first use; safe to call twice.

``PREFERENCE_FIELDS`` lists the switch names in display order; labels and help texts
come from the model fields (``CommunicationPreferences._meta.get_field(name)``).

Defaults: e-mails about the member's own account (tier changes, next tier within reach,
points about to expire, redeemed rewards, referral rewards) and survey invitations are on;
news and offers are off until the customer opts in. The portal feed always shows every
notification, and the dashboard every open survey.
"""

from django.db import transaction

from customers.models import CommunicationPreferences, Customer

PREFERENCE_FIELDS = (
    "email_tier_changes",
    "email_tier_progress",
    "email_points_expiry",
    "email_rewards",
    "email_referrals",
    "email_marketing",
    "email_surveys",
)


def _as_dict(preferences: CommunicationPreferences) -> dict[str, bool]:
    return {name: getattr(preferences, name) for name in PREFERENCE_FIELDS}


def customer_preferences(customer: Customer) -> dict[str, bool]:
    preferences = CommunicationPreferences.objects.filter(customer=customer).first()
    return _as_dict(preferences or CommunicationPreferences(customer=customer))


@transaction.atomic
def customer_preferences_update(customer: Customer, **switches: bool) -> dict[str, bool]:
    unknown = set(switches) - set(PREFERENCE_FIELDS)
    if unknown:
        raise TypeError(f"unknown preferences: {sorted(unknown)}; use {PREFERENCE_FIELDS}")
    for name, value in switches.items():
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be True or False, not {value!r}")
    preferences, _ = CommunicationPreferences.objects.select_for_update().get_or_create(
        customer=customer
    )
    for name, value in switches.items():
        setattr(preferences, name, value)
    preferences.save()
    return _as_dict(preferences)


def customers_without_email(customer_ids, switch: str) -> set[int]:
    """Of these customers, those whose e-mail ``switch`` (a name from
    ``PREFERENCE_FIELDS``) is off, by choice or by default (one query)."""
    customer_ids = set(customer_ids)
    if CommunicationPreferences._meta.get_field(switch).default:
        opted_out = CommunicationPreferences.objects.filter(
            customer_id__in=customer_ids, **{switch: False}
        ).values_list("customer_id", flat=True)
        return set(opted_out)
    opted_in = CommunicationPreferences.objects.filter(
        customer_id__in=customer_ids, **{switch: True}
    ).values_list("customer_id", flat=True)
    return customer_ids - set(opted_in)
