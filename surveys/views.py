"""Answering a survey from the signed link: no login, German unless the link says /en/."""

from django.shortcuts import redirect, render
from django.utils import timezone
from django.views import View

from surveys.errors import AnswerInvalid, InvitationUnusable
from surveys.models import Invitation
from surveys.services.responses import invitation_dismiss, invitation_state, response_submit
from surveys.tokens import invitation_id_from_token

UNUSABLE_STATUS = {"invalid": 404, "expired": 410, "used": 410}


def _unusable(request, reason: str):
    return render(
        request,
        "surveys/unusable.html",
        {"reason": reason},
        status=UNUSABLE_STATUS.get(reason, 404),
    )


def _invitation(token: str) -> Invitation:
    invitation = (
        Invitation.objects.select_related("survey__program", "survey__action_rule", "customer")
        .filter(pk=invitation_id_from_token(token))
        .first()
    )
    if invitation is None:
        raise InvitationUnusable(reason="invalid")
    return invitation


class AnswerView(View):
    def _page(self, request, invitation, *, values=None, error=None, field=None, status=200):
        questions = list(invitation.survey.questions.order_by("position"))
        values = values or {}
        rows = [{"question": q, "value": values.get(q.code, "")} for q in questions]
        return render(
            request,
            "surveys/answer.html",
            {
                "invitation": invitation,
                "survey": invitation.survey,
                "rows": rows,
                "error": error,
                "error_field": field,
            },
            status=status,
        )

    def get(self, request, token: str):
        try:
            invitation = _invitation(token)
        except InvitationUnusable as exc:
            return _unusable(request, exc.details["reason"])
        state = invitation_state(invitation, timezone.now())
        if state != "open":
            return _unusable(request, state)
        return self._page(request, invitation)

    def post(self, request, token: str):
        try:
            invitation = _invitation(token)
            if "dismiss" in request.POST:
                invitation_dismiss(invitation_id=invitation.pk)
                return redirect("surveys:thanks", token=token)
            values = {key: request.POST.get(key, "") for key in request.POST}
            response_submit(invitation_id=invitation.pk, answers=values)
        except InvitationUnusable as exc:
            return _unusable(request, exc.details["reason"])
        except AnswerInvalid as exc:
            return self._page(
                request,
                invitation,
                values=values,
                error=exc.message,
                field=exc.details.get("field"),
                status=400,
            )
        return redirect("surveys:thanks", token=token)


class ThanksView(View):
    def get(self, request, token: str):
        try:
            invitation = _invitation(token)
        except InvitationUnusable as exc:
            return _unusable(request, exc.details["reason"])
        response = getattr(invitation, "response", None)
        if response is None:
            return redirect("surveys:answer", token=token)
        return render(
            request,
            "surveys/thanks.html",
            {"invitation": invitation, "response": response, "survey": invitation.survey},
        )
