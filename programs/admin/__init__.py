"""The staff admin for the loyalty engine. Configuration (programs, partners, rewards) is
edited here directly; everything that moves points, tiers or money calls a service."""

from programs.admin import (  # noqa: F401  (each module registers its admins)
    accounts,
    campaigns,
    customers,
    export_job_pages,
    imports,
    ledger,
    link_claims,
    memberships,
    programs,
    purchases,
    referrals,
    rewards,
    segments,
    tiers,
    transfers,
    what_if,
)
from programs.api import admin as _api_admin  # noqa: F401  (API keys, webhooks)
