"""Whom a figure counts: all members, or a partner's members.

A partner's members are the memberships of the customers the partner linked (it knows
them by its own id), in the programs the partner belongs to. A customer the bookshop
linked who also collects in a program the bookshop is not part of counts for the
bookshop in the bookshop's programs only. Every figure under a partner filter counts
these members and everything they did in those programs, on the dashboard and in the
partner API alike (docs/metrics.md, "Partner filter")."""

from programs.models import Membership, Partner, PartnerCustomer

MEMBERSHIPS = Membership._meta.db_table
PARTNER_LINKS = PartnerCustomer._meta.db_table
PARTNER_PROGRAMS = Partner.programs.through._meta.db_table

SCOPE_TABLE = f"""scope AS (
    SELECT m.id AS membership_id, NULL::bigint AS partner_id
    FROM {MEMBERSHIPS} m
    WHERE %(scope_everyone)s
    UNION ALL
    SELECT m.id, link.partner_id
    FROM {MEMBERSHIPS} m
    JOIN {PARTNER_LINKS} link ON link.customer_id = m.customer_id
    JOIN {PARTNER_PROGRAMS} pp
        ON pp.partner_id = link.partner_id AND pp.program_id = m.program_id
    WHERE %(scope_partner)s::bigint IS NULL OR link.partner_id = %(scope_partner)s::bigint
)"""  # noqa: S608 - table names from the models
"""scope(membership_id, partner_id): every membership once with partner_id NULL (all
members; left out when ``scope_everyone`` is false) and once for each partner whose
member it is (only ``scope_partner``'s if that is set)."""


def scope_params(*, everyone: bool = True, partner_id: int | None = None) -> dict:
    return {"scope_everyone": everyone, "scope_partner": partner_id}
