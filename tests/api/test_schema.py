"""The OpenAPI schema: generated without warnings, valid, served with offline docs."""

from io import StringIO

import pytest
import yaml
from django.core.management import call_command

ENDPOINTS = {
    "/api/v1/keys/current": {"get"},
    "/api/v1/members": {"get"},
    "/api/v1/members/{external_id}": {"get", "put"},
    "/api/v1/members/{external_id}/balance": {"get"},
    "/api/v1/members/{external_id}/history": {"get"},
    "/api/v1/members/{external_id}/rewards": {"get"},
    "/api/v1/members/{external_id}/redemptions": {"post"},
    "/api/v1/members/{external_id}/actions": {"post"},
    "/api/v1/members/{external_id}/referral": {"get"},
    "/api/v1/members/{external_id}/quotes": {"post"},
    "/api/v1/members/{external_id}/holds": {"post"},
    "/api/v1/holds/{id}": {"get"},
    "/api/v1/holds/{id}/capture": {"post"},
    "/api/v1/holds/{id}/void": {"post"},
    "/api/v1/cards/{number}": {"get"},
    "/api/v1/cards/{number}/link": {"post"},
    "/api/v1/members/{external_id}/survey-invitations": {"post"},
    "/api/v1/purchases": {"post"},
    "/api/v1/purchases/batch": {"post"},
    "/api/v1/purchases/quote": {"post"},
    "/api/v1/purchases/{id}": {"get"},
    "/api/v1/purchases/{id}/refunds": {"post"},
    "/api/v1/redemptions/{id}": {"get"},
    "/api/v1/redemptions/{id}/cancel": {"post"},
    "/api/v1/vouchers/{code}": {"get"},
    "/api/v1/vouchers/{code}/use": {"post"},
    "/api/v1/surveys": {"get"},
    "/api/v1/surveys/nps": {"get"},
    "/api/v1/settlement": {"get"},
    "/api/v1/webhooks": {"get", "post"},
    "/api/v1/webhooks/{id}": {"get", "patch", "delete"},
    "/api/v1/webhooks/{id}/rotate-secret": {"post"},
    "/api/v1/imports": {"get", "post"},
    "/api/v1/imports/{id}": {"get"},
    "/api/v1/imports/{id}/parts/{number}": {"put"},
    "/api/v1/imports/{id}/complete": {"post"},
    "/api/v1/imports/{id}/errors": {"get"},
    "/api/v1/imports/{id}/commit": {"post"},
    "/api/v1/imports/{id}/cancel": {"post"},
    "/api/v1/accounts": {"get", "post"},
    "/api/v1/accounts/{account}": {"get"},
    "/api/v1/accounts/{account}/members": {"post"},
    "/api/v1/accounts/{account}/members/{external_id}": {"patch", "delete"},
    "/api/v1/accounts/{account}/invitations": {"post"},
    "/api/v1/accounts/{account}/close": {"post"},
    "/api/v1/transfers": {"get", "post"},
}


@pytest.fixture(scope="module")
def schema():
    out = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out, stderr=StringIO())
    return yaml.safe_load(out.getvalue())


def test_every_endpoint_is_described(schema):
    paths = {p: set(ops) - {"parameters"} for p, ops in schema["paths"].items()}
    assert paths == ENDPOINTS
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert operation.get("summary"), (path, method)
            assert operation["security"] == [{"bearerAuth": []}, {"apiKeyAuth": []}]
            responses = operation["responses"]
            for status in ("401", "429"):
                assert "application/problem+json" in responses[status]["content"]
            if method == "post":
                names = {p["name"] for p in operation["parameters"]}
                assert "Idempotency-Key" in names, path
                assert "Retry-After" in responses["429"]["headers"]


def test_auth_schemes(schema):
    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["apiKeyAuth"]["name"] == "X-Api-Key"


def test_request_bodies_have_examples_and_no_read_only_fields(schema):
    purchase = schema["paths"]["/api/v1/purchases"]["post"]["requestBody"]["content"]
    assert "examples" in purchase["application/json"]
    upsert = schema["components"]["schemas"]["MemberUpsertInputRequest"]["properties"]
    assert not {"balance", "tier", "id", "available"} & set(upsert)


@pytest.mark.django_db
def test_schema_and_docs_are_served(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/v1/purchases" in response.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "drf_spectacular_sidecar" in html  # served locally, no CDN
    assert "cdn.jsdelivr" not in html
