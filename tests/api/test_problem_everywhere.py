"""Whatever fails under /api/, the answer is problem details (RFC 9457), never HTML."""

import json

import pytest
from django.test import Client

from programs.api.views.members import MemberDetailView
from tests.api.conftest import PROBLEM


def assert_problem_body(response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"] == PROBLEM, response.content[:300]
    body = json.loads(response.content)
    assert body["status"] == status
    assert body["type"] == f"urn:loyalty:problem:{body['code']}"
    assert body["title"]
    assert body["detail"]
    return body


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/members%0Ax",
        "/api/v1/%0D%0A",
        "/api/nothing",
        "/api/",
        "/api/schema/extra",
        "/api/v2/members",
    ],
)
def test_unknown_paths_are_404_problems(api, path):
    body = assert_problem_body(api.get(path), 404)
    assert body["code"] == "endpoint_not_found"


def test_405_from_any_view_is_a_json_problem(api):
    """The schema view renders YAML; its 405 still comes as JSON problem details."""
    response = api.post("/api/schema/", {}, format="json")
    body = assert_problem_body(response, 405)
    assert body["code"] == "method_not_allowed"
    assert "GET" in response["Allow"]


@pytest.mark.parametrize("path", ["/api/v1/purchases", "/api/v1/purchases/batch"])
@pytest.mark.parametrize("opening", ["[", '{"a":'])
def test_deeply_nested_json_is_a_400_parse_error(api, member, path, opening):
    response = api.post(path, opening * 5000, content_type="application/json")
    assert assert_problem_body(response, 400)["code"] == "parse_error"


def test_nesting_below_the_decoder_limit_is_refused_too(api, member):
    body = {"purchases": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}
    response = api.post("/api/v1/purchases/batch", body, format="json")
    assert "nested" in assert_problem_body(response, 400)["detail"]


def test_ordinary_nesting_is_accepted(api, member):
    lines = [{"sku": "A", "unit_price": "5.00", "quantity": 2}]
    body = {"purchases": [{"member": "c-1", "order_id": "n-1", "amount": "10.00", "lines": lines}]}
    response = api.post("/api/v1/purchases/batch", body, format="json")
    assert response.status_code == 200, response.content


def test_an_unhandled_error_is_a_500_problem(api, member, monkeypatch):
    def broken(self, request, external_id):
        raise RuntimeError("a bug")

    monkeypatch.setattr(MemberDetailView, "get", broken)
    client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {api.plaintext}")
    body = assert_problem_body(client.get("/api/v1/members/c-1"), 500)
    assert body["code"] == "server_error"
    assert "a bug" not in body["detail"]


def test_a_bad_host_header_is_a_400_problem(api):
    response = api.get("/api/v1/members", HTTP_HOST="evil.example.com")
    assert assert_problem_body(response, 400)["code"] == "bad_request"


def test_pages_outside_the_api_keep_their_html(client, db):
    response = client.get("/nothing-here/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
