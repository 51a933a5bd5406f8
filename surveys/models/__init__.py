"""Surveys (questions, invitations, responses) and the nightly metric snapshots."""

from .snapshot import CohortSnapshot, MetricsDashboard, MetricSnapshot
from .survey import (
    Answer,
    Channel,
    Invitation,
    InvitationEmailState,
    Question,
    Response,
    ResponseStatus,
    Survey,
    SurveyKind,
)

__all__ = [
    "Answer",
    "Channel",
    "CohortSnapshot",
    "Invitation",
    "InvitationEmailState",
    "MetricSnapshot",
    "MetricsDashboard",
    "Question",
    "Response",
    "ResponseStatus",
    "Survey",
    "SurveyKind",
]
