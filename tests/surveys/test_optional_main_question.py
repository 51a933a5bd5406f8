"""A survey whose main question staff made optional (issue 17, item 4): a skipped answer
is no answer. It does not count as "not satisfied" in CSAT, does not break the CES
summary, and a CLI answer without one of its three questions is kept but counts in no
CLI figure."""

import pytest

from surveys.models import Response, SurveyKind
from surveys.services.invitations import invitation_create
from surveys.services.responses import response_submit
from surveys.services.snapshots import snapshots_build
from surveys.services.surveys import survey_create

pytestmark = pytest.mark.django_db
DASHBOARD = "/admin/surveys/metricsdashboard/"


def optional(program, kind, code):
    """A survey of ``kind`` whose question ``code`` staff made optional."""
    survey = survey_create(program=program, kind=kind, name=kind)
    survey.questions.filter(code=code).update(required=False)
    return survey


def answer(survey, membership, **answers):
    invitation = invitation_create(survey=survey, membership=membership, channel="staff")
    return response_submit(invitation_id=invitation.pk, answers=answers)


def test_skipped_main_questions_count_in_no_figure(admin_client, program, member):
    csat = optional(program, SurveyKind.CSAT, "satisfaction")
    ces = optional(program, SurveyKind.CES, "effort")
    cli = optional(program, SurveyKind.CLI, "buy_again")
    a, b, c, d, e, f, g = (member() for _ in range(7))
    answer(csat, a, satisfaction=5)
    skipped = answer(csat, b, satisfaction="", why="Keine Angabe")
    answer(csat, c, satisfaction=2)
    answer(ces, d, effort=7)
    answer(ces, e, effort="")  # raised "inconsistent CES totals" on the dashboard
    answer(cli, f, recommend=8, buy_again=6, try_other=4)
    partial = answer(cli, g, recommend=9, buy_again="", try_other=7)  # raised KeyError
    assert skipped.score is None
    partial = Response.objects.get(pk=partial.pk)
    assert (partial.score, partial.cli_total) == (9, None)  # kept, without a CLI total

    snapshots_build()
    reply = admin_client.get(DASHBOARD)
    assert reply.status_code == 200
    shown = reply.context["summary"]
    # CSAT: 5 and 2 answered, one skipped: 1 satisfied of 2 = 50 % (not 1 of 3 = 33.3 %)
    assert (shown["csat_n"], shown["csat"]) == (2, 0.5)
    # CES: only the 7 counts: mean 7 of n = 1
    assert (shown["ces"].n, shown["ces"].mean) == (1, 7.0)
    # CLI: (8 + 6 + 4) / 3 = 6.0 from the complete answer only
    assert (shown["cli_n"], shown["cli"]) == (1, 6.0)
