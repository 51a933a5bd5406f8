"""Segments in the admin: the live member count of the form as staff edit it (unsaved),
the count on the saved page and in the list, and conditions refused when saved."""

from functools import partial

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from programs.models import Segment, SegmentCondition
from programs.models import SegmentField as F
from programs.models import SegmentOperator as Op
from tests.factories import ProgramFactory, StaffFactory, UserFactory, standard_tiers
from tests.programs.segment_members import make_member

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(StaffFactory())
    return client


@pytest.fixture
def member(program, tiers):
    return partial(make_member, program, tiers)


def conditions_data(*rows, initial=0) -> dict:
    """The inline formset's fields for ``rows`` (dicts of a condition's fields)."""
    data = {
        "conditions-TOTAL_FORMS": str(len(rows)),
        "conditions-INITIAL_FORMS": str(initial),
        "conditions-MIN_NUM_FORMS": "0",
        "conditions-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        values = {"group": "1", "value": "", "tier": "", "partner": "", "id": "", **row}
        data.update({f"conditions-{index}-{name}": value for name, value in values.items()})
    return data


def add_count(client, program, *rows):
    data = {"program": program.pk if program else "", "name": "Neu", "description": ""}
    return client.post(reverse("admin:programs_segment_count_new"), data | conditions_data(*rows))


def test_count_while_adding_counts_the_unsaved_conditions(staff_client, program, tiers, member):
    member(tier="Gold"), member(tier="Platin"), member(tier="Bronze")

    reply = add_count(
        staff_client,
        program,
        {"field": F.TIER, "operator": Op.AT_LEAST, "tier": tiers["Gold"].pk},
    )

    assert (reply.status_code, reply.json()) == (200, {"count": 2})
    assert not Segment.objects.exists()


def test_count_while_editing_follows_the_form_not_the_saved_conditions(
    staff_client, program, tiers, member
):
    member(balance=50), member(balance=150), member(balance=500, tier="Gold")
    segment = Segment.objects.create(program=program, name="Reich")
    saved = SegmentCondition.objects.create(
        segment=segment, field=F.POINTS, operator=Op.AT_LEAST, value="100"
    )
    url = reverse("admin:programs_segment_count", args=[segment.pk])
    data = {"name": "Reich", "description": ""}
    existing = {"id": saved.pk, "segment": segment.pk, "field": F.POINTS, "operator": Op.AT_LEAST}

    changed = staff_client.post(
        url, data | conditions_data({**existing, "value": "200"}, initial=1)
    )
    widened = staff_client.post(
        url,
        data
        | conditions_data(
            {**existing, "value": "200"},
            {"group": "2", "field": F.POINTS, "operator": Op.AT_MOST, "value": "50"},
            initial=1,
        ),
    )
    dropped = staff_client.post(
        url, data | conditions_data({**existing, "value": "100", "DELETE": "on"}, initial=1)
    )

    assert changed.json() == {"count": 1}
    assert widened.json() == {"count": 2}
    assert dropped.json() == {"count": 3}
    saved.refresh_from_db()
    assert saved.value == "100"


def test_count_says_what_is_still_wrong(staff_client, program):
    reply = add_count(
        staff_client,
        program,
        {"field": F.POINTS, "operator": Op.AT_LEAST, "value": "viel"},
        {"field": F.MARKETING_CONSENT, "operator": Op.AT_MOST, "value": "ja"},
    )

    assert reply.status_code == 400
    assert reply.json() == {
        "errors": [
            "Bedingung 1, Wert: Geben Sie eine ganze Zahl ab 0 ein, ohne Trennzeichen.",
            "Bedingung 2, Vergleich: Dieses Feld kann nur mit „ist“ oder „ist nicht“ "
            "verglichen werden.",
        ]
    }


def test_count_needs_the_program_first(staff_client):
    reply = add_count(staff_client, None)

    assert reply.status_code == 400
    assert reply.json() == {"errors": ["Wählen Sie das Programm, um seine Mitglieder zu zählen."]}


def test_count_is_for_staff_who_may_edit_segments(client, program):
    segment = Segment.objects.create(program=program, name="Alle")
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_segment"))
    client.force_login(viewer)
    url = reverse("admin:programs_segment_count", args=[segment.pk])

    assert client.post(url, conditions_data()).status_code == 403
    assert add_count(client, program).status_code == 403
    client.force_login(StaffFactory())
    assert client.get(url).status_code == 405


def test_saving_a_tier_of_another_program_is_refused(staff_client, program):
    foreign = standard_tiers(ProgramFactory())["Gold"]
    data = {"program": program.pk, "name": "Gold", "description": ""}
    row = {"field": F.TIER, "operator": Op.IS, "tier": foreign.pk}

    reply = staff_client.post(reverse("admin:programs_segment_add"), data | conditions_data(row))

    assert reply.status_code == 200
    assert "Wählen Sie eine Stufe des Programms dieses Segments." in reply.content.decode()
    assert not Segment.objects.exists()


def test_saving_keeps_what_each_condition_compares(staff_client, program, tiers):
    data = {"program": program.pk, "name": "Gold", "description": ""}
    gold = tiers["Gold"].pk
    tier_row = {"field": F.TIER, "operator": Op.AT_LEAST, "tier": gold, "value": "x"}
    # a tier chosen before the field was changed to points is not kept
    points_row = {"field": F.POINTS, "operator": Op.AT_LEAST, "value": "5", "tier": gold}

    reply = staff_client.post(
        reverse("admin:programs_segment_add"), data | conditions_data(tier_row, points_row)
    )

    assert reply.status_code == 302
    saved = [
        (c.segment.name, c.field, c.operator, c.value, c.tier)
        for c in SegmentCondition.objects.order_by("pk")
    ]
    assert saved == [
        ("Gold", F.TIER, Op.AT_LEAST, "", tiers["Gold"]),
        ("Gold", F.POINTS, Op.AT_LEAST, "5", None),
    ]


def test_change_page_shows_the_count_and_loads_the_counting_script(
    staff_client, program, tiers, member
):
    member(tier="Gold"), member(tier="Gold"), member(tier="Bronze")
    segment = Segment.objects.create(program=program, name="Gold")
    SegmentCondition.objects.create(
        segment=segment, field=F.TIER, operator=Op.IS, tier=tiers["Gold"]
    )

    page = staff_client.get(reverse("admin:programs_segment_change", args=[segment.pk]))

    html = page.content.decode()
    assert page.context["member_count"] == 2
    assert '<strong id="segment-count-value">2</strong>' in html
    assert "Mitglieder zählen" in html
    assert 'src="/static/programs/segment_count.js"' in html
    count_url = reverse("admin:programs_segment_count", args=[segment.pk])
    assert f'data-count-url="{count_url}"' in html
    assert "CSV für Marketing" in html


def test_list_counts_the_pages_segments_in_a_fixed_number_of_queries(
    staff_client, program, tiers, member
):
    member(tier="Gold", balance=300), member(tier="Bronze")
    url = reverse("admin:programs_segment_changelist")

    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert staff_client.get(url).status_code == 200
        return len(queries)

    gold = Segment.objects.create(program=program, name="Gold")
    SegmentCondition.objects.create(
        segment=gold, field=F.TIER, operator=Op.AT_LEAST, tier=tiers["Gold"]
    )
    with_one = queries_for_list()
    Segment.objects.create(program=program, name="Alle")
    rich = Segment.objects.create(program=program, name="Reich")
    SegmentCondition.objects.create(
        segment=rich, field=F.POINTS, operator=Op.AT_LEAST, value="1000"
    )

    assert queries_for_list() == with_one
    html = staff_client.get(url).content.decode()
    counts = [cell.split("<")[0] for cell in html.split('class="field-member_count">')[1:]]
    assert counts == ["2", "1", "0"]  # Alle, Gold, Reich (by name)


def test_add_page_offers_the_count_without_a_number_yet(staff_client):
    page = staff_client.get(reverse("admin:programs_segment_add"))

    html = page.content.decode()
    assert page.status_code == 200
    assert '<strong id="segment-count-value">&ndash;</strong>' in html
    assert f'data-count-url="{reverse("admin:programs_segment_count_new")}"' in html
    assert "CSV für Marketing" not in html  # nothing to export before it is saved
