"""Survey domain errors, in the platform's one error family (``LoyaltyError``)."""

from django.utils.translation import gettext_lazy as _

from programs.errors import LoyaltyError


class InvitationThrottled(LoyaltyError):
    """The customer was invited too recently. ``reason`` says which rule and until when."""

    code = "survey_throttled"
    status = 409
    default_message = _("This customer was invited to a survey too recently.")


class SurveyInactive(LoyaltyError):
    code = "survey_inactive"
    default_message = _("This survey is not active.")


class InvitationUnusable(LoyaltyError):
    """The link is invalid, expired or used; ``reason`` is one of those three words."""

    code = "invitation_unusable"
    status = 410
    default_message = _("This survey link can no longer be used.")


class AnswerInvalid(LoyaltyError):
    code = "answer_invalid"
    status = 400
    default_message = _("An answer is missing or outside its scale.")
