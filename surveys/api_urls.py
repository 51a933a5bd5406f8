"""The surveys' routes of the partner API (mounted by ``loyalty_site/api_urls.py``)."""

from django.urls import path

from surveys.api import MemberSurveyInvitationView, SurveyListView, SurveyNpsView

urlpatterns = [
    path(
        "members/<str:external_id>/survey-invitations",
        MemberSurveyInvitationView.as_view(),
        name="member-survey-invitations",
    ),
    path("surveys", SurveyListView.as_view(), name="survey-list"),
    path("surveys/nps", SurveyNpsView.as_view(), name="survey-nps"),
]
