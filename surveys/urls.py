"""The public answer page, reached from the signed link in the invitation e-mail."""

from django.urls import path

from surveys.views import AnswerView, ThanksView

app_name = "surveys"

urlpatterns = [
    path("<str:token>/", AnswerView.as_view(), name="answer"),
    path("<str:token>/danke/", ThanksView.as_view(), name="thanks"),
]
