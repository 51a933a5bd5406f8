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


MEMBER_GROUPS = f"""member_group AS (
    SELECT m.id AS membership_id, m.program_id, m.tier_id,
        coalesce(
            array_agg(link.partner_id ORDER BY link.partner_id)
                FILTER (WHERE link.partner_id IS NOT NULL),
            '{{}}'
        ) AS partners
    FROM {MEMBERSHIPS} m
    LEFT JOIN ({PARTNER_LINKS} link
        JOIN {PARTNER_PROGRAMS} pp ON pp.partner_id = link.partner_id)
        ON link.customer_id = m.customer_id AND pp.program_id = m.program_id
    GROUP BY m.id
)"""  # noqa: S608 - table names from the models
"""member_group(membership_id, program_id, tier_id, partners): every membership once, with
the partners whose member it is (the rule of ``SCOPE_TABLE``). A figure grouped by program,
tier and ``partners`` reads each member's rows once, where a join to ``scope`` reads them
once for all members and again for each partner; ``EVERY_SCOPE`` then counts each group for
all members and for each of its partners."""

EVERY_SCOPE = "unnest(array_prepend(NULL::bigint, {partners})) AS sc(partner_id)"
"""For ``CROSS JOIN LATERAL``: the groups of ``MEMBER_GROUPS`` counted for all members
(partner NULL) and for each of their partners."""
