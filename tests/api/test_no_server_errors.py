"""Whatever a client sends, the answer is never a 5xx: generated bodies, paths and query
strings against every endpoint (a local stand-in for Schemathesis)."""

import json
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import PROBLEM, enroll

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(
        ["10.00", "1.001", "-1", "0", "1e999", "NaN", "c-1", "treue", "2025-01-01", "a\x00b"]
    )
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


def shaped(*fields: str):
    """Objects with (some of) the endpoint's own fields, so validation goes deep."""
    return st.fixed_dictionaries({}, optional=dict.fromkeys(fields, json_values)) | json_values


PURCHASE_FIELDS = (
    "member",
    "program",
    "order_id",
    "amount",
    "currency",
    "occurred_at",
    "lines",
    "signals",
)
ENDPOINTS = {
    ("put", "/api/v1/members/f-1"): shaped(
        "email", "first_name", "language", "birth_date", "programs", "referral_code", "signals"
    ),
    ("post", "/api/v1/purchases"): shaped(*PURCHASE_FIELDS),
    ("post", "/api/v1/purchases/batch"): shaped("purchases")
    | st.fixed_dictionaries({"purchases": st.lists(shaped(*PURCHASE_FIELDS), max_size=3)}),
    ("post", "/api/v1/members/c-1/redemptions"): shaped("reward"),
    ("post", "/api/v1/members/c-1/actions"): shaped("program", "code", "reference", "occurred_at"),
    ("post", "/api/v1/purchases/{purchase}/refunds"): shaped("refund_id", "amount", "lines"),
    ("post", "/api/v1/redemptions/{redemption}/cancel"): json_values,
    ("post", "/api/v1/accounts"): shaped(
        "kind", "name", "program", "external_id", "manager", "country", "requires_po_reference"
    ),
    ("post", "/api/v1/accounts/{account}/members"): shaped("member", "role", "monthly_limit"),
    ("patch", "/api/v1/accounts/{account}/members/c-1"): shaped("role", "monthly_limit"),
    ("post", "/api/v1/accounts/{account}/invitations"): shaped("email", "role"),
    ("post", "/api/v1/accounts/{account}/close"): shaped("note"),
    ("post", "/api/v1/transfers"): shaped(
        "from_member", "to_member", "to_account", "points", "program", "message"
    ),
}


@pytest.fixture
def world(api, member, reward):
    purchase = api.post(
        "/api/v1/purchases", {"member": "c-1", "order_id": "Z", "amount": "5.00"}
    ).json()
    redemption = api.post("/api/v1/members/c-1/redemptions", {"reward": reward.pk}).json()
    account = api.post(
        "/api/v1/accounts",
        {"kind": "business", "name": "F GmbH", "program": "treue", "manager": "c-1"},
        format="json",
    ).json()
    return {"purchase": purchase["id"], "redemption": redemption["id"], "account": account["id"]}


def assert_no_server_error(response):
    assert response.status_code < 500, response.content[:500]
    if response.status_code >= 400:
        assert response["Content-Type"] == PROBLEM


@pytest.mark.parametrize(("method", "path"), list(ENDPOINTS))
def test_generated_bodies(api, world, method, path):
    @SETTINGS
    @given(body=ENDPOINTS[(method, path)], key=st.none() | st.text(max_size=5))
    def check(body, key):
        raw = json.dumps(body, allow_nan=True)
        headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
        response = getattr(api, method)(
            path.format(**world), raw, content_type="application/json", **headers
        )
        assert_no_server_error(response)

    check()


@SETTINGS
@given(
    external_id=st.text(min_size=1, max_size=120) | st.just("a\x00b"),
    number=st.integers(min_value=0, max_value=10**30),
    suffix=st.sampled_from(["", "/balance", "/history", "/rewards", "/referral"]),
)
def test_generated_paths(api, world, external_id, number, suffix):
    assert_no_server_error(api.get(f"/api/v1/members/{quote(external_id, safe='')}{suffix}"))
    assert_no_server_error(api.get(f"/api/v1/purchases/{number}"))
    assert_no_server_error(api.get(f"/api/v1/redemptions/{number}"))
    assert_no_server_error(api.post(f"/api/v1/redemptions/{number}/cancel"))
    assert_no_server_error(api.get(f"/api/v1/accounts/{quote(external_id, safe='')}"))
    assert_no_server_error(api.get(f"/api/v1/accounts/{number}"))
    assert_no_server_error(api.get(f"/api/v1/transfers?{urlencode({'member': external_id})}"))


@SETTINGS
@given(
    query=st.dictionaries(
        st.sampled_from(
            ["program", "tier", "updated_since", "cursor", "page_size", "expiring_within_days"]
        ),
        st.text(max_size=40) | st.integers().map(str) | st.just("x\x00"),
        max_size=4,
    )
)
def test_generated_query_strings(api, world, query):
    for path in ("/api/v1/members", "/api/v1/members/c-1/balance", "/api/v1/members/c-1/history"):
        assert_no_server_error(api.get(f"{path}?{urlencode(query)}"))


def test_enroll_helper_still_works_after_fuzzing(api, world):
    enroll(api, "after-fuzz")


PATHS = [
    "/api/v1/members",
    "/api/v1/members/c-1",
    "/api/v1/members/c-1/balance",
    "/api/v1/members/c-1/history",
    "/api/v1/members/c-1/rewards",
    "/api/v1/members/c-1/redemptions",
    "/api/v1/members/c-1/actions",
    "/api/v1/members/c-1/referral",
    "/api/v1/purchases",
    "/api/v1/purchases/batch",
    "/api/v1/purchases/{purchase}",
    "/api/v1/purchases/{purchase}/refunds",
    "/api/v1/redemptions/{redemption}",
    "/api/v1/redemptions/{redemption}/cancel",
    "/api/v1/accounts",
    "/api/v1/accounts/{account}",
    "/api/v1/accounts/{account}/members",
    "/api/v1/accounts/{account}/members/c-1",
    "/api/v1/accounts/{account}/invitations",
    "/api/v1/accounts/{account}/close",
    "/api/v1/transfers",
]


@pytest.mark.parametrize("path", PATHS)
def test_every_method_on_every_path(api, world, path):
    for method in ("get", "post", "put", "patch", "delete", "options", "head"):
        response = getattr(api, method)(path.format(**world))
        assert response.status_code < 500, (method, response.content[:300])
        if method != "head" and response.status_code >= 400:
            assert response["Content-Type"] == PROBLEM
