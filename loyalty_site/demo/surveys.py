"""Demo surveys: an NPS survey for both programs and a CSAT survey for the coffee program,
with 18 months of invitations and answers after purchases, then the metric snapshots.

The history is written with bulk inserts (a few thousand rows in well under a second);
today's surveys go through the services like everything else. Idempotent: a program that
already has surveys is left alone."""

import random
from datetime import datetime, timedelta

from django.utils import timezone

from programs.models import ActionRule, Program, Purchase, PurchaseStatus
from surveys.models import (
    Answer,
    Channel,
    Invitation,
    InvitationEmailState,
    Response,
    ResponseStatus,
    Survey,
    SurveyKind,
)
from surveys.services.surveys import survey_create

NPS_COMMENTS = {
    "promoter": [
        "Der Kaffee ist einfach großartig.",
        "Freundliches Personal und schnelle Lieferung.",
        "Die Punkte lohnen sich wirklich.",
        "Tolle Auswahl, immer frisch.",
    ],
    "passive": [
        "Gut, aber etwas teuer.",
        "Die Lieferung könnte schneller sein.",
        "Ganz ordentlich.",
    ],
    "detractor": [
        "Meine Bestellung kam zu spät.",
        "Die Prämien sind kaum erreichbar.",
        "Der Webshop ist umständlich.",
        "Zu lange Wartezeit an der Kasse.",
    ],
}
CSAT_COMMENTS = ["Alles bestens.", "Bitte mehr vegane Optionen.", "Die Verpackung war beschädigt."]


def _nps_score(rng: random.Random, progress: float, tier_rank: int) -> int:
    """Scores that improve over the 18 months and with the tier: NPS from about +5 to +35."""
    promoter = 0.38 + 0.15 * progress + 0.04 * tier_rank
    detractor = max(0.08, 0.33 - 0.13 * progress - 0.03 * tier_rank)
    draw = rng.random()
    if draw < promoter:
        return rng.choice([9, 10, 10])
    if draw < 1 - detractor:
        return rng.choice([7, 8, 8])
    return rng.choice([0, 2, 3, 4, 5, 5, 6, 6, 6])


def _csat_score(rng: random.Random, progress: float) -> int:
    weights = [4, 6, 18, 40 + 8 * progress, 32 + 10 * progress]
    return rng.choices([1, 2, 3, 4, 5], weights=weights)[0]


def _surveys(program: Program) -> list[Survey]:
    rule = ActionRule.objects.filter(program=program, code="umfrage").first()
    surveys = [
        survey_create(
            program=program,
            kind=SurveyKind.NPS,
            name=f"{program.name}: Weiterempfehlung (NPS)",
            action_rule=rule,
            after_purchase=True,
        )
    ]
    if rule is not None:  # the coffee program also asks about satisfaction
        surveys.append(
            survey_create(
                program=program,
                kind=SurveyKind.CSAT,
                name=f"{program.name}: Zufriedenheit nach dem Einkauf (CSAT)",
            )
        )
    return surveys


def _history(survey: Survey, *, rng: random.Random, now: datetime, rate: float) -> int:
    """Invitations after past purchases at ``rate``, with the recontact interval and the
    7-day cool-down respected per customer; about half answer, a few decline."""
    questions = {q.code: q for q in survey.questions.all()}
    purchases = (
        Purchase.objects.filter(program=survey.program, status=PurchaseStatus.AWARDED)
        .exclude(membership__customer__email="")
        .order_by("occurred_at")
        .values_list(
            "pk",
            "occurred_at",
            "partner_id",
            "membership_id",
            "membership__customer_id",
            "membership__customer__language",
            "membership__tier_id",
            "membership__tier__rank",
        )
    )
    taken = set(
        Invitation.objects.filter(created_at__gt=now - timedelta(days=400)).values_list(
            "customer_id", "created_at"
        )
    )
    last_by_customer: dict[int, datetime] = {}
    for customer_id, created_at in taken:
        last_by_customer[customer_id] = max(
            created_at, last_by_customer.get(customer_id, created_at)
        )
    start = now - timedelta(days=548)
    invitations, outcomes = [], []
    for pk, occurred, partner_id, membership_id, customer_id, language, tier_id, rank in purchases:
        created = occurred + timedelta(days=3, hours=rng.uniform(0, 6))
        if created >= now - timedelta(days=1) or rng.random() > rate:
            continue
        last = last_by_customer.get(customer_id)
        if last and created - last < timedelta(days=survey.recontact_days):
            continue
        last_by_customer[customer_id] = created
        invitations.append(
            Invitation(
                survey=survey,
                membership_id=membership_id,
                customer_id=customer_id,
                channel=Channel.PURCHASE,
                partner_id=partner_id,
                purchase_id=pk,
                language=language or "de",
                created_at=created,
                sent_at=created,
                email_state=InvitationEmailState.SENT,
                email_next_attempt_at=created,
                expires_at=created + timedelta(days=survey.valid_days),
            )
        )
        progress = max(0.0, min(1.0, (created - start) / (now - start)))
        outcomes.append((tier_id, rank or 0, progress, partner_id))
    Invitation.objects.bulk_create(invitations, batch_size=1000)
    responses, answer_rows = [], []
    for invitation, (tier_id, rank, progress, partner_id) in zip(
        invitations, outcomes, strict=True
    ):
        draw = rng.random()
        answered_at = invitation.created_at + timedelta(hours=rng.uniform(1, 96))
        if answered_at >= now or draw > 0.55:
            if draw > 0.4 and invitation.created_at + timedelta(days=4) < now:
                invitation.reminded_at = invitation.created_at + timedelta(days=4)
                invitation.email_state = InvitationEmailState.REMINDED
                invitation.email_next_attempt_at = None
            continue
        common = {
            "invitation": invitation,
            "survey": survey,
            "kind": survey.kind,
            "program_id": survey.program_id,
            "membership_id": invitation.membership_id,
            "tier_id": tier_id,
            "partner_id": partner_id,
            "submitted_at": answered_at,
        }
        if draw > 0.5:
            invitation.dismissed_at = answered_at
            responses.append(Response(status=ResponseStatus.DISMISSED, **common))
            continue
        invitation.answered_at = answered_at
        if survey.kind == SurveyKind.NPS:
            score = _nps_score(rng, progress, rank)
            bucket = "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
            comment = rng.choice(NPS_COMMENTS[bucket]) if rng.random() < 0.35 else ""
            main = questions["recommend"]
        else:
            score = _csat_score(rng, progress)
            comment = rng.choice(CSAT_COMMENTS) if rng.random() < 0.2 else ""
            main = questions["satisfaction"]
        responses.append(
            Response(status=ResponseStatus.ANSWERED, score=score, comment=comment, **common)
        )
        answer_rows.append((len(responses) - 1, main, score, questions["why"], comment))
    Response.objects.bulk_create(responses, batch_size=1000)
    Invitation.objects.bulk_update(
        invitations,
        ["answered_at", "dismissed_at", "reminded_at", "email_state", "email_next_attempt_at"],
        batch_size=1000,
    )
    answers = []
    for index, main, score, why, comment in answer_rows:
        response = responses[index]
        answers.append(Answer(response=response, question=main, value=score))
        answers.append(
            Answer(response=response, question=why, text=comment)
            if comment
            else Answer(response=response, question=why, skipped=True)
        )
    Answer.objects.bulk_create(answers, batch_size=2000)
    return len(invitations)


def demo_surveys_create(*, programs: list[Program], rng: random.Random, now=None) -> int:
    """Surveys with their history for ``programs`` that have none yet; then snapshots.
    Returns the number of invitations written."""
    now = now or timezone.now()
    written = 0
    for program in programs:
        if Survey.objects.filter(program=program).exists():
            continue
        for survey in _surveys(program):
            rate = 0.5 if survey.kind == SurveyKind.NPS else 0.15
            written += _history(survey, rng=rng, now=now, rate=rate)
    return written
