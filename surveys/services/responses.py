"""Answering or dismissing an invitation: once, with the points credited once."""

import logging
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from programs.errors import LoyaltyError
from programs.services import events
from programs.services.actions import action_record
from programs.services.ledger import Actor
from surveys.errors import AnswerInvalid, InvitationUnusable
from surveys.models import Answer, Invitation, Question, Response, ResponseStatus, SurveyKind
from surveys.services.snapshots import snapshots_refresh_soon

logger = logging.getLogger("surveys")
MAX_TEXT = 2000


def invitation_state(invitation: Invitation, now: datetime) -> str:
    """``open``, ``used`` (answered or dismissed) or ``expired``."""
    if not invitation.is_open:
        return "used"
    if invitation.expires_at <= now:
        return "expired"
    return "open"


def _lock_open(invitation_id: int, now: datetime) -> Invitation:
    invitation = (
        Invitation.objects.select_for_update(of=("self",))
        .select_related("survey__action_rule", "membership")
        .filter(pk=invitation_id)
        .first()
    )
    if invitation is None:
        raise InvitationUnusable(reason="invalid")
    state = invitation_state(invitation, now)
    if state != "open":
        raise InvitationUnusable(reason=state)
    return invitation


def answers_clean(questions: list[Question], raw: dict[str, object]) -> list[Answer]:
    """Typed, unsaved answers from raw form/API values keyed by question code.

    A scale answer must be an integer on the question's scale; a required question left
    empty is an error (``AnswerInvalid`` naming it); an optional one is stored as skipped,
    which is not the same as answering 0."""
    answers = []
    for question in questions:
        value = raw.get(question.code)
        if value is None or (isinstance(value, str) and not value.strip()):
            if question.required:
                raise AnswerInvalid(
                    _("Please answer: %(question)s") % {"question": question.text},
                    field=question.code,
                )
            answers.append(Answer(question=question, skipped=True))
            continue
        if question.is_scale:
            try:
                number = int(str(value).strip())
            except ValueError:
                number = None
            if number is None or number not in question.scale:
                raise AnswerInvalid(
                    _(
                        "The answer to “%(question)s” must be a whole number from "
                        "%(min)d to %(max)d."
                    )
                    % {
                        "question": question.text,
                        "min": question.scale_min,
                        "max": question.scale_max,
                    },
                    field=question.code,
                )
            answers.append(Answer(question=question, value=number))
        else:
            answers.append(Answer(question=question, text=str(value).strip()[:MAX_TEXT]))
    return answers


CLI_QUESTIONS = ("recommend", "buy_again", "try_other")


def main_scores(kind: str, answers: list[Answer]) -> tuple[int | None, int | None]:
    """The response's main score: the answer to its first scale question, None if that
    was skipped (an optional question left empty is no answer, never a low one); and for
    a CLI survey the sum of its three answers, None unless all three were answered. A
    response without them is kept but counts in no figure of that kind."""
    first_scale = next((a for a in answers if a.question.is_scale), None)
    score = first_scale.value if first_scale is not None else None
    if kind != SurveyKind.CLI:
        return score, None
    values = {a.question.code: a.value for a in answers}
    parts = [values.get(code) for code in CLI_QUESTIONS]
    return score, None if None in parts else sum(parts)


def _award(invitation: Invitation, now: datetime) -> int:
    rule = invitation.survey.action_rule
    if rule is None or not rule.is_active:
        return 0
    try:
        event, _ = action_record(
            membership=invitation.membership,
            code=rule.code,
            reference=f"survey-invitation:{invitation.pk}",
            actor=Actor.for_customer(),
            occurred_at=now,
        )
    except LoyaltyError as exc:  # limit used up, membership suspended: answer still counts
        logger.info("survey points not credited for invitation %s: %s", invitation.pk, exc)
        return 0
    return event.points


@transaction.atomic
def response_submit(
    *, invitation_id: int, answers: dict[str, object], now: datetime | None = None
) -> Response:
    """Record the answers to an invitation, once. The invitation row is locked, and the
    one-to-one response enforces "once" even if two submits race. Credits the survey's
    action points (idempotent on the invitation) and records ``survey.responded``."""
    now = now or timezone.now()
    invitation = _lock_open(invitation_id, now)
    survey = invitation.survey
    questions = list(survey.questions.order_by("position"))
    cleaned = answers_clean(questions, answers)
    values = {a.question.code: a.value for a in cleaned if a.value is not None}
    score, cli_total = main_scores(survey.kind, cleaned)
    comment = next((a.text for a in cleaned if a.text), "")
    response = _response_create(invitation, ResponseStatus.ANSWERED, now, score, cli_total, comment)
    for answer in cleaned:
        answer.response = response
    Answer.objects.bulk_create(cleaned)
    Invitation.objects.filter(pk=invitation.pk).update(answered_at=now)
    points = _award(invitation, now)
    events.event_record(
        type=events.SURVEY_RESPONDED,
        membership=invitation.membership,
        data={
            "survey_id": survey.pk,
            "kind": survey.kind,
            "score": score,
            "answers": values,
            "points": points,
            "channel": invitation.channel,
        },
        at=now,
    )
    snapshots_refresh_soon()
    return response


@transaction.atomic
def invitation_dismiss(*, invitation_id: int, now: datetime | None = None) -> Response:
    """The customer declined: recorded as dismissed (no score, no points), once."""
    now = now or timezone.now()
    invitation = _lock_open(invitation_id, now)
    response = _response_create(invitation, ResponseStatus.DISMISSED, now, None, None, "")
    Invitation.objects.filter(pk=invitation.pk).update(dismissed_at=now)
    return response


def _response_create(invitation, status, now, score, cli_total, comment) -> Response:
    try:
        with transaction.atomic():
            return Response.objects.create(
                invitation=invitation,
                status=status,
                survey=invitation.survey,
                kind=invitation.survey.kind,
                program_id=invitation.survey.program_id,
                membership=invitation.membership,
                tier_id=invitation.membership.tier_id,
                partner_id=invitation.partner_id,
                score=score,
                cli_total=cli_total,
                comment=comment,
                submitted_at=now,
            )
    except IntegrityError:
        raise InvitationUnusable(reason="used") from None
