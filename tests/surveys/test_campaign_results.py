"""Campaign results (issue 18, "Holdout and results"): a campaign's reached members against
its holdout over the campaign's window, each difference with its 95 % interval (Welch for
means, Newcombe for shares), "zu wenige Mitglieder" below 30 members in a group, the
bonus points given and what they cost; staff only, German, with a CSV export.

The figures are computed here from the members' own values with scipy's independent
implementations (Welch's t interval, Wilson's score interval), not with the code under
test."""

import csv
import io
import math
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from django.utils import timezone
from scipy import stats

from programs.models import Campaign, CampaignEffect, CampaignMember
from programs.services.campaigns import campaign_audience_freeze, holdout_assign
from programs.services.postings import Actor
from programs.services.purchase_refunds import purchase_refund
from programs.services.purchases import program_earning_forget
from programs.services.rewards import redemption_cancel, reward_redeem
from surveys.campaign_results import campaign_results
from surveys.campaign_views import CSV_HEADER
from tests.factories import RewardFactory, UserFactory

pytestmark = pytest.mark.django_db
LIST = "/admin/surveys/metricsdashboard/campaigns/"


def results_url(campaign) -> str:
    return f"{LIST}{campaign.pk}/results/"


def csv_rows(reply) -> list[list[str]]:
    text = b"".join(reply.streaming_content).decode("utf-8").lstrip("\ufeff")
    return list(csv.reader(io.StringIO(text)))


# --- the intervals, from scipy's own implementations -------------------------------------


def welch_ci(reached: list, holdout: list) -> tuple[float, float]:
    ci = stats.ttest_ind(reached, holdout, equal_var=False).confidence_interval(0.95)
    return ci.low, ci.high


def german(value: float, places: int) -> str:
    """A signed difference as the German page shows it: -0,12 / +3,40."""
    return f"{value:+.{places}f}".replace(".", ",")


def newcombe_ci(k_r: int, n_r: int, k_h: int, n_h: int) -> tuple[float, float]:
    w_r = stats.binomtest(k_r, n_r).proportion_ci(0.95, method="wilson")
    w_h = stats.binomtest(k_h, n_h).proportion_ci(0.95, method="wilson")
    p_r, p_h = k_r / n_r, k_h / n_h
    return (
        p_r - p_h - math.hypot(p_r - w_r.low, w_h.high - p_h),
        p_r - p_h + math.hypot(w_r.high - p_r, p_h - w_h.low),
    )


# --- the campaign -------------------------------------------------------------------------


@pytest.fixture
def campaign_of(program, member):
    """``campaign_of(reached=n, holdout=m, starts=..., ends=...)``: an active campaign
    giving 50 bonus points per purchase, whose fixed audience is n new members reached and
    m held out (written as the audience freeze writes it)."""

    def _campaign(*, reached: int, holdout: int, starts, ends, name="Herbstbonus"):
        campaign = Campaign.objects.create(
            program=program,
            name=name,
            starts_at=starts,
            ends_at=ends,
            holdout_percent=40,
            effect=CampaignEffect.FIXED,
            bonus_points=50,
            audience_frozen_at=starts - timedelta(days=1),
        )
        groups = {
            False: [member() for _ in range(reached)],
            True: [member() for _ in range(holdout)],
        }
        CampaignMember.objects.bulk_create(
            CampaignMember(campaign=campaign, membership=m, in_holdout=held)
            for held, members in groups.items()
            for m in members
        )
        program_earning_forget(program)
        return campaign, groups[False], groups[True]

    return _campaign


@pytest.fixture
def ended(campaign_of, member, buy, program):
    """A campaign that ran from 30 to 10 days ago; 40 members reached, 30 held out.

    Reached: members 0-9 buy twice for 20.00 in the window, 10-19 once for 30.00 (member
    10 returns 10.00 of it); member 22's 50.00 is returned in full (not counted); members
    20 and 21 buy only before the start and after the end. Members 0-5 redeem once in the
    window, member 0 twice; member 1 also redeems and cancels; member 11 redeems after the
    end. Holdout: members 0-4 buy twice for 20.00, 5-14 once for 20.00, member 15 before
    the start; members 0 and 1 redeem once. A member outside the audience buys too."""
    now = timezone.now()
    start, end = now - timedelta(days=30), now - timedelta(days=10)
    campaign, reached, holdout = campaign_of(reached=40, holdout=30, starts=start, ends=end)
    inside, later = start + timedelta(days=1), start + timedelta(days=5)
    system = Actor.system()
    for m in reached[:10] + holdout[:5]:
        buy(m, "20.00", occurred_at=inside)
        buy(m, "20.00", occurred_at=inside + timedelta(hours=2))
    once = [buy(m, "30.00", occurred_at=inside) for m in reached[10:20]]
    purchase_refund(purchase=once[0], refund_id="r1", amount=Decimal("10.00"), actor=system)
    for m in holdout[5:15]:
        buy(m, "20.00", occurred_at=inside)
    full = buy(reached[22], "50.00", occurred_at=inside)
    purchase_refund(purchase=full, refund_id="r2", amount=Decimal("50.00"), actor=system)
    buy(reached[20], "100.00", occurred_at=start - timedelta(days=2))
    buy(reached[21], "100.00", occurred_at=end + timedelta(days=1))
    buy(holdout[15], "100.00", occurred_at=start - timedelta(seconds=1))
    buy(member(), "70.00", occurred_at=inside)  # not in the audience
    reward = RewardFactory(program=program, points_cost=10)
    for m in reached[:6] + holdout[:2]:
        reward_redeem(membership=m, reward=reward, actor=system, at=later)
    reward_redeem(membership=reached[0], reward=reward, actor=system, at=later)
    cancelled = reward_redeem(membership=reached[1], reward=reward, actor=system, at=later)
    redemption_cancel(redemption=cancelled, actor=system, at=later)
    reward_redeem(membership=reached[11], reward=reward, actor=system, at=end + timedelta(hours=1))
    campaign.refresh_from_db()
    return campaign


# Each member's own values in the window, written out by hand from ``ended``.
REACHED_PURCHASES = [2] * 10 + [1] * 10 + [0] * 20
REACHED_SPEND = [Decimal(40)] * 10 + [Decimal(20)] + [Decimal(30)] * 9 + [Decimal(0)] * 20
HOLDOUT_PURCHASES = [2] * 5 + [1] * 10 + [0] * 15
HOLDOUT_SPEND = [Decimal(40)] * 5 + [Decimal(20)] * 10 + [Decimal(0)] * 15
REACHED_REDEMPTIONS = [2] + [1] * 5 + [0] * 34
HOLDOUT_REDEMPTIONS = [1] * 2 + [0] * 28


def test_hand_built_campaign_figures_and_intervals(ended):
    results = campaign_results(ended)
    figures = {f.key: f for f in results.figures}
    assert (results.reached.members, results.holdout.members) == (40, 30)
    assert results.window.running is False
    assert results.window.end == ended.ends_at

    # Purchases per member: 30 / 40 against 20 / 30 (member 22's purchase was returned
    # in full: it is no purchase).
    purchases = figures["purchases_per_member"]
    assert (purchases.reached, purchases.holdout) == (Fraction(30, 40), Fraction(20, 30))
    assert purchases.difference.estimate == Fraction(3, 4) - Fraction(2, 3)
    low, high = welch_ci(REACHED_PURCHASES, HOLDOUT_PURCHASES)
    assert purchases.difference.low == pytest.approx(low, abs=1e-9)
    assert purchases.difference.high == pytest.approx(high, abs=1e-9)
    assert purchases.difference.lift == Fraction(1, 12) / Fraction(2, 3)  # +12.5 %

    # Spend per member, net of returns: 400 + 20 + 270 = 690 / 40 = 17.25 against
    # 200 + 200 = 400 / 30 = 13.33.
    spend = figures["spend_per_member"]
    assert (spend.reached, spend.holdout) == (Fraction(690, 40), Fraction(400, 30))
    low, high = welch_ci([float(v) for v in REACHED_SPEND], [float(v) for v in HOLDOUT_SPEND])
    assert spend.difference.low == pytest.approx(low, abs=1e-9)
    assert spend.difference.high == pytest.approx(high, abs=1e-9)

    # Shares of the members: bought 20/40 vs 15/30, bought again 10/40 vs 5/30, redeemed
    # 6/40 vs 2/30.
    for key, k_r, k_h in (
        ("buyer_rate", 20, 15),
        ("repurchase_rate", 10, 5),
        ("redemption_rate", 6, 2),
    ):
        share = figures[key]
        assert (share.reached, share.holdout) == (Fraction(k_r, 40), Fraction(k_h, 30)), key
        low, high = newcombe_ci(k_r, 40, k_h, 30)
        assert share.difference.low == pytest.approx(low, abs=1e-9), key
        assert share.difference.high == pytest.approx(high, abs=1e-9), key
    assert figures["buyer_rate"].difference.lift == 0  # 1/2 against 1/2

    # Redemptions per member: 7 / 40 (the cancelled one and the one after the end left
    # out) against 2 / 30.
    redemptions = figures["redemptions_per_member"]
    assert (redemptions.reached, redemptions.holdout) == (Fraction(7, 40), Fraction(2, 30))
    low, high = welch_ci(REACHED_REDEMPTIONS, HOLDOUT_REDEMPTIONS)
    assert redemptions.difference.low == pytest.approx(low, abs=1e-9)
    assert redemptions.difference.high == pytest.approx(high, abs=1e-9)

    # Points: 50 per purchase of a reached member within the campaign's dates, the one
    # returned since too: 20 + 10 + member 22's = 31 purchases.
    points = results.points
    assert (points.points_awarded, points.award_points, points.awards) == (1550, 1550, 31)
    assert (points.members_awarded, points.holdout_points) == (21, 0)
    assert points.cost == Decimal("15.50")  # 1,550 x 0.0100 EUR


def test_the_result_page_and_its_csv_show_the_comparison(admin_client, ended):
    reply = admin_client.get(results_url(ended))
    assert reply.status_code == 200
    page = reply.content.decode()
    assert "Ergebnis: Herbstbonus" in page
    assert "beendet" in page
    cards = {c["key"]: c for c in reply.context["cards"]}
    spend = cards["spend_per_member"]
    assert (spend["reached"], spend["holdout"]) == ("17,25 EUR", "13,33 EUR")
    assert spend["difference"] == "+3,92 EUR"  # 17.25 - 13.333...
    low, high = welch_ci([float(v) for v in REACHED_SPEND], [float(v) for v in HOLDOUT_SPEND])
    assert spend["interval"] == f"{german(low, 2)} EUR bis {german(high, 2)} EUR"
    repurchase = cards["repurchase_rate"]
    assert (repurchase["reached"], repurchase["holdout"]) == ("25,0 %", "16,7 %")
    assert repurchase["difference"] == "+8,3 Pp."
    assert repurchase["lift"] == "+50,0 %"  # (1/4 - 1/6) / (1/6)
    low, high = newcombe_ci(10, 40, 5, 30)
    assert repurchase["interval"] == f"{german(100 * low, 1)} Pp. bis {german(100 * high, 1)} Pp."
    assert repurchase["verdict"] == "kein klarer Unterschied"  # the interval spans 0
    assert cards["purchases_per_member"]["reached"] == "0,75"
    assert cards["redemption_rate"]["holdout"] == "6,7 %"
    for text in ("Wiederkaufsrate", "Umsatz je Mitglied", "1.550", "15,50 EUR", "Holdout"):
        assert text in page, text
    assert "zu wenige Mitglieder" not in page

    # The CSV: the same comparison, unrounded shares, money in the currency's decimals.
    reply = admin_client.get(results_url(ended) + "?export=csv")
    assert reply["Content-Type"].startswith("text/csv")
    rows = csv_rows(reply)
    assert rows[0] == CSV_HEADER
    by_figure = {
        r[CSV_HEADER.index("figure")]: dict(zip(CSV_HEADER, r, strict=True)) for r in rows[1:]
    }
    assert list(by_figure) == [
        "buyer_rate",
        "purchases_per_member",
        "spend_per_member",
        "repurchase_rate",
        "redemption_rate",
        "redemptions_per_member",
    ]
    spend = by_figure["spend_per_member"]
    assert (spend["unit"], spend["reached"], spend["holdout"], spend["difference"]) == (
        "EUR",
        "17.25",
        "13.33",
        "3.92",
    )
    repurchase = by_figure["repurchase_rate"]
    low, high = newcombe_ci(10, 40, 5, 30)
    assert (repurchase["members_reached"], repurchase["members_holdout"]) == ("40", "30")
    assert (repurchase["reached"], repurchase["holdout"]) == ("0.2500", "0.1667")
    assert (repurchase["ci_low_95"], repurchase["ci_high_95"]) == (f"{low:.4f}", f"{high:.4f}")
    assert repurchase["relative_lift"] == "0.5000"
    assert repurchase["interval_note"] == ""
    assert repurchase["running"] == "0"


def test_a_too_small_holdout_shows_no_interval(admin_client, campaign_of, buy):
    now = timezone.now()
    campaign, reached, holdout = campaign_of(
        reached=30, holdout=5, starts=now - timedelta(days=20), ends=now - timedelta(days=2)
    )
    for m in reached[:15] + holdout[:1]:
        buy(m, "10.00", occurred_at=now - timedelta(days=10))
    reply = admin_client.get(results_url(campaign))
    page = reply.content.decode()
    cards = {c["key"]: c for c in reply.context["cards"]}
    # The values and the difference are shown; the interval is not.
    assert (cards["buyer_rate"]["reached"], cards["buyer_rate"]["holdout"]) == ("50,0 %", "20,0 %")
    assert cards["buyer_rate"]["difference"] == "+30,0 Pp."
    for card in cards.values():
        assert card["interval"] == "zu wenige Mitglieder (mindestens 30 je Gruppe)"
        assert card["verdict"] == ""
    assert reply.context["extra_spend"]["missing"].startswith("zu wenige Mitglieder")
    assert "zu wenige Mitglieder" in page
    rows = csv_rows(admin_client.get(results_url(campaign) + "?export=csv"))
    assert {r[CSV_HEADER.index("interval_note")] for r in rows[1:]} == {"too_few"}
    assert {r[CSV_HEADER.index("ci_low_95")] for r in rows[1:]} == {""}


def test_a_running_campaign_counts_up_to_now_and_says_so(admin_client, campaign_of, buy):
    now = timezone.now()
    campaign, reached, holdout = campaign_of(
        reached=30, holdout=30, starts=now - timedelta(days=3), ends=now + timedelta(days=7)
    )
    buy(reached[0], "12.00", occurred_at=now - timedelta(hours=5))
    buy(holdout[0], "8.00", occurred_at=now - timedelta(days=4))  # before the start
    results = campaign_results(campaign)
    assert results.window.running
    assert results.window.end <= timezone.now()
    spend = {f.key: f for f in results.figures}["spend_per_member"]
    assert (spend.reached, spend.holdout) == (Fraction(12, 30), 0)
    page = admin_client.get(results_url(campaign)).content.decode()
    assert "läuft noch" in page
    assert "Die Kampagne läuft noch" in page


def test_a_campaign_that_has_not_started_compares_nothing(admin_client, campaign_of):
    now = timezone.now()
    campaign, _reached, _holdout = campaign_of(
        reached=1, holdout=1, starts=now + timedelta(days=1), ends=now + timedelta(days=8)
    )
    results = campaign_results(campaign)
    assert results.window is None
    assert results.figures == []
    page = admin_client.get(results_url(campaign)).content.decode()
    assert "noch nicht begonnen" in page


@pytest.fixture
def small(campaign_of, buy):
    """An ended campaign with 2 members reached and 1 held out; one of them bought."""
    now = timezone.now()
    campaign, reached, _holdout = campaign_of(
        reached=2, holdout=1, starts=now - timedelta(days=9), ends=now - timedelta(days=2)
    )
    buy(reached[0], "12.00", occurred_at=now - timedelta(days=5))
    return campaign


def test_the_result_takes_two_queries_whatever_the_audience(small, django_assert_num_queries):
    campaign = Campaign.objects.select_related("program").get(pk=small.pk)
    with django_assert_num_queries(2):  # the groups' figures, the points
        results = campaign_results(campaign)
    assert results.reached.purchases == 1


def test_the_list_links_each_campaign_with_an_audience(admin_client, small, program):
    Campaign.objects.create(
        program=program,
        name="Ohne Zielgruppe",
        starts_at=small.starts_at,
        ends_at=small.ends_at,
    )
    reply = admin_client.get(LIST)
    page = reply.content.decode()
    assert results_url(small) in page
    assert "Herbstbonus" in page
    assert "Ohne Zielgruppe" not in page
    [row] = reply.context["campaigns"]
    assert (row["campaign"].reached_members, row["campaign"].holdout_members) == (2, 1)
    assert row["state"] == "beendet"


def test_the_dashboard_links_to_the_campaign_results(admin_client):
    assert LIST in admin_client.get("/admin/surveys/metricsdashboard/").content.decode()


def test_the_page_is_in_english_under_en(admin_client, small):
    page = admin_client.get("/en" + results_url(small)).content.decode()
    for text in ("Repurchase rate", "6.00 EUR", "ended", "too few members (at least 30"):
        assert text in page, text


@pytest.mark.parametrize("suffix", ["", "?export=csv"])
def test_only_staff_see_the_results(client, small, suffix):
    url = results_url(small) + suffix
    for user in (None, UserFactory(username="kunde")):
        if user is not None:
            client.force_login(user)
        reply = client.get(url)
        assert reply.status_code == 302
        assert reply["Location"].startswith("/admin/login/")
        assert b"Herbstbonus" not in reply.content
    assert client.get(LIST).status_code == 302


def test_an_unknown_campaign_is_not_found(admin_client):
    assert admin_client.get(f"{LIST}999999/results/").status_code == 404


# --- the holdout draw (programs/services/campaigns.py) ------------------------------------


@pytest.mark.parametrize("percent", [10, 25, 50])
def test_the_holdout_draw_is_stable_and_close_to_the_share(percent):
    ids = range(1, 20_001)
    drawn = [holdout_assign(7, m, percent) for m in ids]
    assert drawn == [holdout_assign(7, m, percent) for m in ids]  # the same every time
    # 20,000 draws: the share's standard error is at most 0.35 points; allow 1.5.
    assert abs(sum(drawn) / len(drawn) - percent / 100) < 0.015
    other = [holdout_assign(8, m, percent) for m in ids]
    assert other != drawn  # another campaign draws its own holdout
    assert not any(holdout_assign(7, m, 0) for m in ids)


def test_the_frozen_audience_draws_as_holdout_assign_does(program, member):
    members = [member() for _ in range(60)]
    now = timezone.now()
    campaign = Campaign.objects.create(
        program=program,
        name="Frühling",
        starts_at=now,
        ends_at=now + timedelta(days=5),
        holdout_percent=30,
    )
    assert campaign_audience_freeze(campaign) == 60
    frozen = dict(
        CampaignMember.objects.filter(campaign=campaign).values_list("membership", "in_holdout")
    )
    assert frozen == {m.pk: holdout_assign(campaign.pk, m.pk, 30) for m in members}
    assert campaign_audience_freeze(campaign) == 60  # a second freeze changes nothing
