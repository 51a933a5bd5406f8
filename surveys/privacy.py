"""What the surveys hold about a customer, and what they forget when the customer's
deletion request is completed.

``surveys_data`` is the surveys' part of "download my data" (GDPR Art. 15, composed by
``loyalty_site.portal.export``): invitations and what became of them, the answers with
their free-text comments, engagement scores and the days the customer used the portal.

The erasure step (``customers.privacy.customer_anonymize``) clears the free text:
comments and text answers. Scores stay, anonymous.
"""

from django.db.models import F, Prefetch

from customers.models import Customer
from customers.privacy import erasure_step
from surveys.engagement.models import EngagementScore, EngagementScoreDay, PortalActivityDay
from surveys.engagement.scores import COMPONENTS
from surveys.models import Answer, Invitation, Response


def _question(answer: Answer, language: str) -> str:
    question = answer.question
    return question.text_en if language == "en" and question.text_en else question.text_de


def surveys_data(*, customer: Customer) -> dict:
    language = customer.language or "de"
    responses = (
        Response.objects.filter(membership__customer=customer)
        .select_related("survey", "program")
        .prefetch_related(Prefetch("answers", queryset=Answer.objects.select_related("question")))
        .order_by("submitted_at", "id")
    )
    return {
        "survey_invitations": list(
            Invitation.objects.filter(customer=customer)
            .order_by("created_at", "id")
            .values(
                "survey__program__name",
                "survey__name",
                "channel",
                "partner__name",
                "created_at",
                "sent_at",
                "reminded_at",
                "expires_at",
                "answered_at",
                "dismissed_at",
            )
        ),
        "survey_answers": [
            {
                "program": response.program.name,
                "survey": response.survey.name,
                "kind": response.kind,
                "status": response.status,
                "score": response.score,
                "comment": response.comment,
                "submitted_at": response.submitted_at,
                "answers": [
                    {
                        "question": _question(answer, language),
                        "value": answer.value,
                        "text": answer.text,
                        "skipped": answer.skipped,
                    }
                    for answer in response.answers.all()
                ],
            }
            for response in responses
        ],
        "engagement_scores": list(
            EngagementScore.objects.filter(membership__customer=customer)
            .order_by("membership_id")
            .values(
                "membership__program__name",
                "churn_risk",
                score=F("engagement_score"),
                computed_at=F("engagement_computed_at"),
                **{name: F(f"engagement_{name}") for name in COMPONENTS},
            )
        ),
        "engagement_history": list(
            EngagementScoreDay.objects.filter(membership__customer=customer)
            .order_by("membership_id", "day")
            .values("membership__program__name", "day", "score", "churn_risk")
        ),
        "portal_activity": list(
            PortalActivityDay.objects.filter(customer=customer)
            .order_by("day", "kind")
            .values("day", "kind", "count")
        ),
    }


@erasure_step("surveys: clear comments")
def comments_clear(*, customer, user) -> None:
    Response.objects.filter(membership__customer=customer).exclude(comment="").update(comment="")
    Answer.objects.filter(response__membership__customer=customer).exclude(text="").update(text="")
