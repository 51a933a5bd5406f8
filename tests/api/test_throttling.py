"""Rate limits per API key: 429 with Retry-After, counted per key, not per partner."""

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from loyalty_site.core.counters import parse_rate
from tests.api.conftest import assert_problem, client_for

THREE_PER_MINUTE = override_settings(
    REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_key": "3/min"}}
)


@THREE_PER_MINUTE
def test_over_the_limit_is_429_with_retry_after(api, partner):
    for remaining in (2, 1, 0):
        response = api.get("/api/v1/members")
        assert response.status_code == 200
        assert response["X-RateLimit-Limit"] == "3"
        assert response["X-RateLimit-Remaining"] == str(remaining)
    refused = api.get("/api/v1/members")
    body = assert_problem(refused, 429, "throttled")
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert "Expected available in" in body["detail"]
    # Another key of the same partner has its own budget.
    assert client_for(partner).get("/api/v1/members").status_code == 200


@THREE_PER_MINUTE
def test_unauthenticated_requests_are_refused_before_counting(api, client):
    for _ in range(5):
        assert client.get("/api/v1/members").status_code == 401
    assert api.get("/api/v1/members").status_code == 200


@pytest.mark.parametrize(
    ("rate", "expected"),
    [("6000/min", (6000, 60)), ("10/s", (10, 1)), ("5/hour", (5, 3600)), ("1/day", (1, 86400))],
)
def test_parse_rate(rate, expected):
    assert parse_rate(rate) == expected


@pytest.mark.parametrize("value", ["fast", "0/min", "10/week", "-1/s", "10"])
def test_bad_rate_setting_stops_start_up(monkeypatch, value):
    import importlib

    import loyalty_site.settings.base as base

    monkeypatch.setenv("API_RATE_LIMIT", value)
    with pytest.raises(ImproperlyConfigured, match="API_RATE_LIMIT"):
        importlib.reload(base)
    monkeypatch.delenv("API_RATE_LIMIT")
    importlib.reload(base)
