"""The months selector shows what the charts cover (issue 17, item 8): 18 months on the
first load, and after a filter that leaves the months out."""

import re

import pytest

from surveys.services.snapshots import snapshots_build

pytestmark = pytest.mark.django_db
DASHBOARD = "/admin/surveys/metricsdashboard/"


def selected(html: str, name: str) -> str:
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', html, re.S).group(1)
    return re.search(r'<option value="([^"]*)"[^>]*selected', select).group(1)


@pytest.mark.parametrize("query", [{}, {"granularity": "month"}, {"partner": ""}])
def test_first_load_selects_the_months_the_charts_show(admin_client, program, query):
    snapshots_build()
    reply = admin_client.get(DASHBOARD, query)
    html = reply.content.decode()
    assert reply.context["filters"].months == 18
    assert selected(html, "months") == "18"
    assert selected(html, "granularity") == "month"


def test_a_chosen_months_value_is_kept(admin_client, program):
    reply = admin_client.get(DASHBOARD, {"months": 6})
    assert reply.context["filters"].months == 6
    assert selected(reply.content.decode(), "months") == "6"
