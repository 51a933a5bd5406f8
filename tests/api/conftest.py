"""Partners, keys and clients for the API tests.

Two partners take part in the same program: the web shop (A, the caller in most tests)
and a merchant (B). Each sees only the members it linked itself.
"""

import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from programs.models import Membership
from programs.services.api_keys import api_key_create
from programs.services.purchases import purchases_award
from tests.factories import PartnerFactory, ProgramFactory, RewardFactory, standard_tiers

PROBLEM = "application/problem+json"


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def program(db):
    program = ProgramFactory(slug="treue", name="Treue")
    standard_tiers(program)
    return program


@pytest.fixture
def partner(program):
    return PartnerFactory(slug="webshop", name="Web shop", programs=[program])


@pytest.fixture
def partner_b(program):
    return PartnerFactory(slug="merchant", name="Merchant", programs=[program])


def client_for(partner, scopes=("read", "write", "redeem"), *, header="bearer") -> APIClient:
    key, plaintext = api_key_create(partner=partner, name="test", scopes=scopes)
    client = APIClient()
    if header == "bearer":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    else:
        client.credentials(HTTP_X_API_KEY=plaintext)
    client.api_key, client.plaintext = key, plaintext
    return client


@pytest.fixture
def api(partner):
    return client_for(partner)


@pytest.fixture
def api_b(partner_b):
    return client_for(partner_b)


@pytest.fixture
def api_read(partner):
    return client_for(partner, scopes=("read",))


def enroll(client, external_id, *, programs=("treue",), **fields):
    body = {"email": f"{external_id}@example.com", "programs": list(programs), **fields}
    response = client.put(f"/api/v1/members/{external_id}", body, format="json")
    assert response.status_code in (200, 201), response.json()
    return response.json()


def enroll_confirmed(client, external_id, *, email, **fields):
    """Enroll a member with another customer's e-mail address, and have that customer
    confirm the link (``link_claims``), as they would in the portal."""
    from programs.models import LinkClaim
    from programs.services.link_claims import claim_confirm

    enroll(client, external_id, email=email, **fields)
    claim = LinkClaim.objects.get(link__external_id=external_id, confirmed_at=None)
    claim_confirm(claim_id=claim.pk, customer=claim.customer)
    return client.get(f"/api/v1/members/{external_id}").json()


def buy(client, external_id, amount, *, order_id=None, award=True, **fields):
    """Post a purchase through the API and award it at once (as the worker would)."""
    body = {
        "member": external_id,
        "order_id": order_id or f"order-{external_id}-{amount}",
        "amount": amount,
        **fields,
    }
    response = client.post("/api/v1/purchases", body, format="json")
    assert response.status_code in (200, 202), response.json()
    if award:
        purchases_award([response.json()["id"]])
    return response.json()


@pytest.fixture
def member(api):
    """Partner A's member c-1 with 300 available points."""
    enroll(api, "c-1", first_name="Erika")
    buy(api, "c-1", "300.00")
    return Membership.objects.get(customer__partner_links__external_id="c-1")


@pytest.fixture
def member_b(api_b):
    """Partner B's member m-1 with 300 available points."""
    enroll(api_b, "m-1")
    buy(api_b, "m-1", "300.00")
    return Membership.objects.get(customer__partner_links__external_id="m-1")


@pytest.fixture
def reward(program):
    return RewardFactory(program=program, name="Teetasse", points_cost=100, stock=5)


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, (response.status_code, response.content)
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code, body
    assert body["type"] == f"urn:loyalty:problem:{code}"
    assert body["title"]
    assert body["detail"]
    return body


def points(value) -> Decimal:
    return Decimal(str(value))


class Receiver:
    """A real HTTP endpoint: records requests, answers with the queued statuses."""

    def __init__(self):
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        self.delay = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                time.sleep(receiver.delay)
                status = receiver.statuses.pop(0) if receiver.statuses else 204
                self.send_response(status)
                if status in (301, 302):
                    self.send_header("Location", "http://127.0.0.1:1/elsewhere")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings):
    settings.OUTBOUND_ALLOW_PRIVATE_NETWORKS = True  # the receiver listens on 127.0.0.1
    server = Receiver()
    yield server
    server.close()
