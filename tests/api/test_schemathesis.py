"""Schemathesis against the generated OpenAPI schema, in process (WSGI), as a partner with
a valid key, members and rewards: no 5xx, every response conforms to the schema (status
code, content type, headers, body), and invalid (negative) data is refused.

Bounded and deterministic: a fixed number of examples per operation, derandomized, no
example database; the whole module takes well under two minutes."""

import ipaddress
import socket

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import negative_data_rejection

from loyalty_site.wsgi import application
from programs.services.api_keys import api_key_create
from tests.api.conftest import buy, client_for, enroll
from tests.factories import RewardFactory

MAX_EXAMPLES = 15


@pytest.fixture
def partner_key(partner, program):
    """A partner whose members, purchases and rewards the generated requests may hit."""
    api = client_for(partner)
    enroll(api, "c-1001", first_name="Erika")
    buy(api, "c-1001", "300.00", order_id="A-100234")
    enroll(api, "c-1002")
    RewardFactory(program=program, name="Teetasse", points_cost=100, stock=5)
    _key, plaintext = api_key_create(
        partner=partner, name="schemathesis", scopes=["read", "write", "redeem"]
    )
    return plaintext


@pytest.fixture
def in_process(partner_key):
    """Schemathesis calls the WSGI app directly, so Django would close the database
    connection at each request's start and end; on PostgreSQL that ends the test's
    transaction. Django's own test client unhooks the same handlers (and hooks them up
    again after each of its requests: hence after the data is seeded)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def _no_dns(monkeypatch):
    """Webhook URLs are checked by resolving their host; tests do not use the network:
    every name resolves to one public address (IP literals stay what they are)."""
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


# Loaded once at collection from the app itself (the schema needs no database).
schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
schema.config.generation.update(max_examples=MAX_EXAMPLES)
# Schema-valid requests may still be refused for what they refer to: a member, purchase
# or redemption you do not have (404), the state (409), a domain rule (422), or (400) one of
# the rules below that no schema can express. Any other 400 means the schema is too loose.
schema.config.checks.positive_data_acceptance.expected_statuses = [
    "2xx",
    "400",
    "401",
    "403",
    "404",
    "409",
    "422",
    "429",
]
DATA_DEPENDENT = {
    "unknown_program",  # a slug none of the partner's programs has
    "member_not_found",  # an external id the partner never enrolled
    "account_not_found",  # an account id the partner never created (POST /transfers)
    "max_decimal_places",  # more decimals than the program's currency has
    "max_digits",  # a JSON number (a float) written with more digits than money has
    "max_whole_digits",
    "future",  # occurred_at later than the server's clock allows
    "before_history_start",  # occurred_at before the program's history starts
    "amount_out_of_range",  # a line's unit price x quantity above the largest amount
    "url_not_allowed",  # a webhook host that resolves to a private address
    "subscription_limit_reached",
    "invalid_cursor",  # cursors are opaque: only the ones the API hands out work
    "required",  # `program` left out for a member in several programs
    "null_characters_not_allowed",  # a JSON string may hold NUL, PostgreSQL text may not
    "card_number_invalid",  # 16 digits whose check digit does not match (Luhn)
}


# Which URLs Django takes (host name rules) is more than a JSON schema says.
DATA_DEPENDENT_FIELDS = {("url", "invalid")}


def valid_data_refused_only_for_data_reasons(ctx, response, case):
    if response.status_code != 400 or not case.meta.generation.mode.is_positive:
        return
    problem = response.json()
    errors = problem.get("errors") or [{"field": "", "code": problem["code"]}]
    unexpected = [
        e
        for e in errors
        if e["code"] not in DATA_DEPENDENT and (e["field"], e["code"]) not in DATA_DEPENDENT_FIELDS
    ]
    assert not unexpected, f"schema-valid request refused: {problem}"


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case, partner_key, in_process):
    # The batch answers 200 with a problem per bad item, by design: an invalid item is
    # "rejected" inside the answer (checked in test_purchases_batch), not with a 4xx.
    batch = case.operation.path == "/api/v1/purchases/batch"
    case.call_and_validate(
        headers={"Authorization": f"Bearer {partner_key}"},
        additional_checks=[valid_data_refused_only_for_data_reasons],
        excluded_checks=[negative_data_rejection] if batch else [],
    )
