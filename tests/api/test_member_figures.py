"""A partner reads a member's engagement, churn risk and probability alive with when
they were computed, but no money figure: a coalition partner must not learn what the
customer spends elsewhere (no predicted CLV, no expected spend or purchases)."""

from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
import yaml
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from programs.services.figures import MemberValue, figures_value_write
from tests.factories import engagement_scored

FIGURE_KEYS = {
    "engagement_score",
    "churn_risk",
    "engagement_computed_at",
    "probability_alive",
    "probability_alive_computed_at",
}
MONEY_WORDS = ("clv", "spend", "value", "purchases", "revenue")

ENGAGED_AT = datetime(2026, 6, 2, 1, 0, tzinfo=UTC)
FITTED_AT = datetime(2026, 6, 2, 1, 15, tzinfo=UTC)


def all_keys(data):
    if isinstance(data, dict):
        for key, value in data.items():
            yield key
            yield from all_keys(value)
    elif isinstance(data, list):
        for item in data:
            yield from all_keys(item)


def all_values(data):
    """Every leaf value (a timestamp such as 05:36:22.508 holds "2.50" as text)."""
    if isinstance(data, dict):
        for value in data.values():
            yield from all_values(value)
    elif isinstance(data, list):
        for item in data:
            yield from all_values(item)
    else:
        yield data


@pytest.fixture
def with_figures(member):
    figures_value_write(
        program_id=member.program_id,
        values=[MemberValue(member.pk, Decimal("0.8123"), Decimal("2.50"), Decimal("118.40"))],
        horizon_months=12,
        computed_at=FITTED_AT,
    )
    engagement_scored(member, "61.25", at=ENGAGED_AT, churn_risk=True)
    return member


def test_member_shows_engagement_churn_and_alive_with_dates(api, with_figures):
    body = api.get("/api/v1/members/c-1").json()
    (membership,) = body["memberships"]
    assert membership["figures"] == {
        "engagement_score": "61.25",
        "churn_risk": True,
        "engagement_computed_at": "2026-06-02T03:00:00+02:00",
        "probability_alive": "0.8123",
        "probability_alive_computed_at": "2026-06-02T03:15:00+02:00",
    }


def test_no_money_figure_anywhere_in_the_member(api, with_figures):
    for path in ("/api/v1/members/c-1", "/api/v1/members"):
        body = api.get(path).json()
        keys = set(all_keys(body))
        assert keys >= FIGURE_KEYS
        assert not [key for key in keys if any(word in key for word in MONEY_WORDS)]
        values = {str(value) for value in all_values(body)}
        assert "118.40" not in values  # the predicted CLV
        assert "2.50" not in values  # the expected purchases


def test_figures_not_computed_yet_are_null(api, member):
    (membership,) = api.get("/api/v1/members/c-1").json()["memberships"]
    assert membership["figures"] == dict.fromkeys(FIGURE_KEYS)


def test_the_figures_cost_no_extra_query(api, member):
    api.get("/api/v1/members/c-1")  # the key is now cached
    with CaptureQueriesContext(connection) as without:
        api.get("/api/v1/members/c-1")
    figures_value_write(
        program_id=member.program_id,
        values=[MemberValue(member.pk, Decimal("0.5"), Decimal("1"), Decimal("10"))],
        horizon_months=12,
        computed_at=FITTED_AT,
    )
    with CaptureQueriesContext(connection) as with_them:
        body = api.get("/api/v1/members/c-1").json()
    assert body["memberships"][0]["figures"]["probability_alive"] == "0.5000"
    assert len(with_them) == len(without)


def test_schema_describes_the_figures_without_money():
    out = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out, stderr=StringIO())
    schemas = yaml.safe_load(out.getvalue())["components"]["schemas"]
    figures = schemas["MembershipFigures"]["properties"]
    assert set(figures) == FIGURE_KEYS
    assert figures["probability_alive"]["nullable"] is True
    assert "figures" in schemas["Membership"]["properties"]
    for schema in schemas.values():
        assert not any("clv" in key for key in schema.get("properties", {}))
