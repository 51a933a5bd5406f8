"""``field__any=ids``: ``field = ANY(%s)`` with the ids as one array parameter.

For the batch paths' id lists (a thousand purchases or memberships at a time). ``__in``
prepares every element through the field and writes one placeholder per element, which
psycopg then parses out of the statement again. One array parameter costs neither, and
PostgreSQL plans ``= ANY(array)`` exactly as it plans ``IN (...)``.

Registered on the field instances the batch paths filter by (``ANY_FIELDS``), not on
every field of every model: elsewhere ``__any`` is an unknown lookup, as it should be.
"""

from django.db.models.lookups import Lookup

from programs.models import (
    Account,
    AccountMember,
    CampaignAward,
    CampaignMember,
    LedgerEntry,
    Membership,
    PartnerCustomer,
    PointLot,
    Purchase,
    PurchaseLine,
    Referral,
    TierSubscription,
)
from programs.notifications.models import Notification

# The fields the batch paths filter with ``__any`` (imported from ``ProgramsConfig.ready``).
ANY_FIELDS = [
    (Account, "holder"),
    (AccountMember, "membership"),
    (Membership, "id"),
    (Membership, "customer"),
    (PartnerCustomer, "external_id"),
    (PartnerCustomer, "customer"),
    (Purchase, "id"),
    (Purchase, "membership"),
    (PurchaseLine, "purchase"),
    (Referral, "referee"),
    (TierSubscription, "purchase"),
    (CampaignAward, "membership"),
    (CampaignMember, "membership"),
    (PointLot, "id"),
    (PointLot, "membership"),
    (LedgerEntry, "membership"),
    (Notification, "id"),
    (Notification, "cause_key"),
]


class Any(Lookup):
    lookup_name = "any"
    prepare_rhs = False

    def get_prep_lookup(self):
        # Plain values, as the id lists of the batch paths are: no per-element preparation.
        return [value for value in self.rhs if value is not None]

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        array_type = self.lhs.output_field.db_type(connection)
        return f"{lhs} = ANY(%s::{array_type}[])", [*lhs_params, self.rhs]


def any_lookups_register() -> None:
    for model, name in ANY_FIELDS:
        model._meta.get_field(name).register_lookup(Any)
