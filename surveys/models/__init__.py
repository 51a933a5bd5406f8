"""Surveys (questions, invitations, responses) and the nightly metric snapshots."""

from .member_value import MemberValueFit
from .snapshot import CohortSnapshot, MetricsDashboard, MetricSnapshot, SpanKind, SpanSnapshot
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
    "MemberValueFit",
    "MetricSnapshot",
    "MetricsDashboard",
    "Question",
    "Response",
    "ResponseStatus",
    "SpanKind",
    "SpanSnapshot",
    "Survey",
    "SurveyKind",
]
