"""`manage.py create_partner` readies a fresh database for the API quick start."""

from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import call_command
from rest_framework.test import APIClient

from programs.models import ActionRule, ApiKey, Partner, Program, Reward, Tier

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


def create_partner(*extra: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(
        "create_partner",
        "--program-name",
        "Kaffee-Treue",
        "--partner-name",
        "Webshop Süd",
        *extra,
        stdout=out,
        stderr=err,
    )
    return out.getvalue(), err.getvalue()


def api_for(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_a_fresh_database_gets_a_program_a_partner_and_a_working_key():
    out, err = create_partner()

    key = out.strip()
    assert out == key + "\n", "only the key goes to stdout"
    assert key.startswith("lk_live_")
    assert "kaffee-treue" in err
    assert "webshop-sud" in err
    program = Program.objects.get(slug="kaffee-treue")
    assert program.name == "Kaffee-Treue"
    assert program.currency == "EUR"
    assert list(program.tiers.values_list("name", "threshold")) == [
        ("Bronze", 0),
        ("Silber", 500),
        ("Gold", 1500),
    ]
    assert list(Partner.objects.get(slug="webshop-sud").programs.all()) == [program]

    # The quick start's first calls work with the printed key.
    api = api_for(key)
    enrolled = api.put(
        "/api/v1/members/qs-1001",
        {"email": "lena@example.com", "programs": ["kaffee-treue"]},
        format="json",
    )
    assert enrolled.status_code == 201, enrolled.content
    for code in ("anmeldung", "bewertung"):
        action = api.post(
            "/api/v1/members/qs-1001/actions",
            {"code": code, "reference": f"qs-{code}"},
            format="json",
        )
        assert action.status_code == 201, action.content
    balance = api.get("/api/v1/members/qs-1001/balance").json()["programs"][0]
    assert balance["available"] == 150  # anmeldung 100 + bewertung 50
    assert balance["tier"]["name"] == "Bronze"
    rewards = api.get("/api/v1/members/qs-1001/rewards").json()["rewards"]
    assert [(r["name"], r["redeemable"]) for r in rewards] == [("Gutschein 5 €", True)]


def test_running_it_again_keeps_what_exists_and_prints_a_new_key():
    first, _ = create_partner()
    Program.objects.filter(slug="kaffee-treue").update(pending_days=30)  # staff changed it

    second, err = create_partner()

    assert second.strip() != first.strip()
    assert "exists" in err
    assert Program.objects.count() == 1
    assert Program.objects.get().pending_days == 30
    assert Partner.objects.count() == 1
    assert Tier.objects.count() == 3
    assert ActionRule.objects.count() == 2
    assert Reward.objects.count() == 1
    assert ApiKey.objects.count() == 2
    for key in (first.strip(), second.strip()):
        assert api_for(key).get("/api/v1/members").status_code == 200


def test_an_existing_program_gets_a_second_partner():
    create_partner("--program", "treue", "--partner", "shop-a")

    create_partner("--program", "treue", "--partner-name", "Filiale", "--partner", "filiale")

    program = Program.objects.get(slug="treue")
    assert sorted(program.partners.values_list("slug", flat=True)) == ["filiale", "shop-a"]


def test_the_program_accepts_orders_of_the_past_year():
    from datetime import timedelta

    from django.utils import timezone

    create_partner()
    program = Program.objects.get(slug="kaffee-treue")
    assert program.history_starts_on == timezone.localdate() - timedelta(days=365)
