"""Staff run a what-if from the admin: the tier form from a program's page, a draft
campaign posted by the campaign page's "What if?" button, and the run's page with its
progress and, when the worker is done, the result's tables."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from programs.models import Campaign, WhatIfKind, WhatIfRun, WhatIfStatus
from tests.factories import StaffFactory
from tests.programs.test_what_if import PURCHASES, record_history, tiered_program

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(StaffFactory())
    return client


@pytest.fixture
def history():
    program = tiered_program()
    record_history(program, PURCHASES)
    return program


def test_the_program_page_links_to_the_tier_what_if(staff_client, history):
    page = staff_client.get(reverse("admin:programs_program_change", args=[history.pk]))
    url = reverse("admin:programs_whatifrun_tiers", args=[history.pk])
    assert f'<a href="{url}">Was wäre wenn: Stufen</a>' in page.content.decode()


def test_tier_form_starts_a_run_whose_page_shows_the_result(
    staff_client, history, django_capture_on_commit_callbacks
):
    url = reverse("admin:programs_whatifrun_tiers", args=[history.pk])
    form = staff_client.get(url).content.decode()
    tiers = dict(history.tiers.values_list("name", "pk"))
    assert "Schwelle für Silber" in form
    assert f'name="threshold_{tiers["Silber"]}" value="100,00"' in form  # today's

    data = {
        f"threshold_{tiers['Basis']}": "0",
        f"threshold_{tiers['Silber']}": "150,00",
        f"threshold_{tiers['Gold']}": "250.00",
        "tier_window": "rolling_12_months",
        "tier_metric": "spend",
        "months": "12",
    }
    with django_capture_on_commit_callbacks(execute=True):  # the worker runs it
        response = staff_client.post(url, data)
    run = WhatIfRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:programs_whatifrun_change", args=[run.pk])
    assert run.status == WhatIfStatus.DONE

    page = staff_client.get(response["Location"]).content.decode()
    assert "Mitglieder je Stufe am Ende des Zeitraums" in page
    assert "<td>Silber</td><td>Basis</td><td>1</td><td>Abstieg</td>" in page
    assert "<td>Silber</td><td>Gold</td><td>1</td><td>Aufstieg</td>" in page
    assert "<th>Vergebene Punkte mit der Änderung</th><td>735</td>" in page
    assert "<th>Änderung der Punkteverbindlichkeit</th><td>-1,50 EUR</td>" in page
    assert "what_if.js" not in page  # finished: nothing left to poll

    status = staff_client.get(reverse("admin:programs_whatifrun_status", args=[run.pk])).json()
    assert status == {
        "status": "done",
        "status_label": "fertig",
        "progress": 100,
        "finished": True,
    }


def test_a_run_still_computing_shows_a_progress_bar_that_polls(staff_client, history):
    run = WhatIfRun.objects.create(
        program=history, kind=WhatIfKind.TIERS, months=12, proposal={}, progress=35
    )
    WhatIfRun.objects.filter(pk=run.pk).update(status=WhatIfStatus.RUNNING)
    page = staff_client.get(reverse("admin:programs_whatifrun_change", args=[run.pk]))
    html = page.content.decode()
    assert '<progress id="what-if-progress" max="100" value="35">' in html
    status_url = reverse("admin:programs_whatifrun_status", args=[run.pk])
    assert f'data-status-url="{status_url}"' in html
    assert 'src="/static/programs/what_if.js"' in html
    assert "<script>" not in html  # the policy allows no inline script
    assert "script-src" in page["Content-Security-Policy"]
    status = staff_client.get(status_url).json()
    assert (status["status"], status["progress"], status["finished"]) == ("running", 35, False)


def campaign_form_data(program, **changes):
    """The campaign admin's change form as its "What if?" button posts it."""
    starts = timezone.localtime(timezone.now() + timedelta(days=7))
    ends = starts + timedelta(days=30)
    data = {
        "program": program.pk,
        "name": "Doppelte Punkte",
        "description": "",
        "starts_at_0": starts.strftime("%d.%m.%Y"),
        "starts_at_1": "00:00:00",
        "ends_at_0": ends.strftime("%d.%m.%Y"),
        "ends_at_1": "00:00:00",
        "is_active": "on",
        "holdout_percent": "0",
        "min_spend": "",
        "hour_from": "",
        "hour_until": "",
        "categories": "",
        "skus": "",
        "effect": "fixed",
        "multiplier": "2",
        "bonus_points": "7",
        "cap_per_member": "",
        "cap_per_member_day": "",
        "budget_points": "",
    }
    return {**data, **changes}


def test_the_campaign_form_is_replayed_without_being_saved(
    staff_client, history, django_capture_on_commit_callbacks
):
    url = reverse("admin:programs_whatifrun_campaign")
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(url, campaign_form_data(history))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert not Campaign.objects.exists()
    run = WhatIfRun.objects.get()
    assert (run.kind, run.status, run.months) == (WhatIfKind.CAMPAIGN, WhatIfStatus.DONE, 12)
    # 7 bonus points on each purchase of the last 30 days: C's 20 days ago
    assert (run.result["bonus_points"], run.result["members_receiving"]) == (7, 1)
    page = staff_client.get(response["Location"]).content.decode()
    assert "<th>Vergebene Bonuspunkte</th><td>7</td>" in page


def test_a_campaign_that_cannot_be_replayed_is_shown_with_its_errors(staff_client, history):
    url = reverse("admin:programs_whatifrun_campaign")
    response = staff_client.post(url, campaign_form_data(history, bonus_points=""))
    assert response.status_code == 200
    assert not WhatIfRun.objects.exists()
    html = response.content.decode()
    assert "So kann die Aktion nicht nachgerechnet werden" in html
    assert "errorlist" in html


def test_a_saved_campaign_keeps_its_read_only_fields(
    staff_client, history, django_capture_on_commit_callbacks
):
    saved = Campaign.objects.create(
        program=history,
        name="Entwurf",
        starts_at=timezone.now() + timedelta(days=1),
        ends_at=timezone.now() + timedelta(days=31),
        is_active=False,
        effect="fixed",
        bonus_points=3,
    )
    data = campaign_form_data(history, name="Entwurf geändert")
    del data["program"]  # read-only on a saved campaign's page: not posted
    url = reverse("admin:programs_whatifrun_campaign") + f"?campaign={saved.pk}"
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(url, data)
    assert response.status_code == 302
    run = WhatIfRun.objects.get()
    assert run.program == history
    assert run.proposal["campaign_id"] == saved.pk
    assert run.result["campaign"]["name"] == "Entwurf geändert"
    saved.refresh_from_db()
    assert saved.name == "Entwurf"  # never saved


def test_runs_are_listed_and_read_only(staff_client, history):
    WhatIfRun.objects.create(program=history, kind=WhatIfKind.TIERS, months=6, proposal={})
    listing = staff_client.get(reverse("admin:programs_whatifrun_changelist"))
    html = listing.content.decode()
    assert "Was-wäre-wenn-Rechnungen" in html
    assert "Stufenschwellen" in html
    assert reverse("admin:programs_whatifrun_add") not in html
