"""The customer's proof in a till's request (``proof``: the rotating code or the PIN).

Checked inside the request's transaction, before the view writes anything. A refusal is
returned as a problem response instead of raised: the transaction then commits what the
check recorded (a wrong PIN counts toward the lock), and nothing else has been written. A
proof that is accepted is used up only if the request succeeds: a hold or voucher use that
fails rolls the code's use back with everything else."""

from django.utils import translation
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from programs.api.exceptions import PROBLEM_CONTENT_TYPE, loyalty_problem, problem_language
from programs.errors import LoyaltyError
from programs.models import Membership
from programs.services.card_proofs import proof_check


@extend_schema_serializer(component_name="CustomerProof")
class ProofInput(serializers.Serializer):
    code = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=64,
        help_text="The text of the rotating QR code on the customer's portal card page "
        "(`<card number>.<8 digits>`), or the 8 digits alone. Valid about a minute; works once.",
    )
    pin = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=12,
        help_text="The PIN the customer set in the portal (4-6 digits). Five wrong PINs in "
        "a row lock it for 15 minutes.",
    )


def proof_refusal(request: Request, membership: Membership, proof: dict | None) -> Response | None:
    """None when ``proof`` is good for ``membership``; else the 403 problem to return."""
    try:
        proof_check(membership, proof)
    except LoyaltyError as exc:
        with translation.override(problem_language(request)):
            body = loyalty_problem(exc, request.path)
        return Response(body, status=body["status"], content_type=PROBLEM_CONTENT_TYPE)
    return None
