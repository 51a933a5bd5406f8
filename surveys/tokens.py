"""Signed links for invitations: ``<invitation id>:<signature>``, nothing else.

The signature proves the id was issued by us (no guessing other invitations); expiry
and single use are facts of the invitation row (``expires_at``, its response), so they
hold even for a leaked link and can be shown to staff.
"""

from django.core import signing
from django.urls import reverse
from django.utils import translation

from surveys.errors import InvitationUnusable

_SALT = "surveys.invitation"


def invitation_token(invitation_id: int) -> str:
    return signing.Signer(salt=_SALT).sign(str(invitation_id))


def invitation_id_from_token(token: str) -> int:
    """The invitation id a token was signed for; ``InvitationUnusable`` if forged."""
    try:
        value = signing.Signer(salt=_SALT).unsign(token)
        return int(value)
    except (signing.BadSignature, ValueError):
        raise InvitationUnusable(reason="invalid") from None


def invitation_path(invitation) -> str:
    """The answer page's path in the invitation's language (``/en/...`` for English)."""
    with translation.override(invitation.language):
        return reverse("surveys:answer", kwargs={"token": invitation_token(invitation.pk)})
