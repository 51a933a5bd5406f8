"""The base view of the partner API: API-key auth, scopes, rate limit, JSON only, logging."""

import logging

from django.conf import settings
from django.utils import translation
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.renderers import JSONRenderer

from programs.api.authentication import ApiKeyAuthentication
from programs.api.exceptions import MemberNotEnrolled, PayloadTooLarge
from programs.api.parsers import JSONParser
from programs.api.permissions import HasApiKeyScope
from programs.api.throttling import ApiKeyRateThrottle
from programs.models import ApiKey, Membership, Partner, PartnerCustomer, Program
from programs.selectors import partner_member_get, partner_programs

logger = logging.getLogger("programs.api")
BODY_METHODS = {"POST", "PUT", "PATCH"}


def body_size_check(request) -> None:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if limit is not None and length > limit:
        raise PayloadTooLarge(
            f"The request body has {length} bytes; the limit is {limit}. "
            "Send large batches in several requests."
        )


def null_characters_check(request) -> None:
    """NUL can reach a path or query string, but no database column (PostgreSQL refuses
    it); body fields are checked by the serializers."""
    params = request.query_params
    if "\x00" in request.path or any(
        "\x00" in key or any("\x00" in value for value in params.getlist(key)) for key in params
    ):
        raise ValidationError(
            {"non_field_errors": ["Null characters are not allowed in the URL."]},
            code="null_characters",
        )


class PartnerAPIView(GenericAPIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasApiKeyScope]
    throttle_classes = [ApiKeyRateThrottle]
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]
    filter_backends = []
    pagination_class = None
    # No OPTIONS (and no misleading metadata): the OpenAPI schema describes the API.
    http_method_names = ["get", "post", "put", "patch", "delete", "head"]
    metadata_class = None

    @property
    def partner(self) -> Partner:
        return self.request.user.partner

    def initial(self, request, *args, **kwargs):
        # Messages in English unless the client asks for another language.
        if not request.META.get("HTTP_ACCEPT_LANGUAGE"):
            translation.activate("en")
            request.LANGUAGE_CODE = "en"
        super().initial(request, *args, **kwargs)
        null_characters_check(request)
        if request.method in BODY_METHODS:
            body_size_check(request)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        rate = getattr(request, "rate_limit", None)
        if rate:
            response["X-RateLimit-Limit"] = str(rate[0])
            response["X-RateLimit-Remaining"] = str(rate[1])
            response["X-RateLimit-Reset"] = str(rate[2])
        api_key = request.auth if isinstance(request.auth, ApiKey) else None
        logger.info(
            "api %s %s %s key=%s partner=%s",
            request.method,
            request.path,
            response.status_code,
            api_key.prefix if api_key else "-",
            api_key.partner.slug if api_key else "-",
        )
        return response

    # --- lookups, always scoped to the calling partner -------------------------------------

    def member_link(self, external_id: str) -> PartnerCustomer:
        link = partner_member_get(partner=self.partner, external_id=external_id)
        if link is None:
            raise NotFound(
                f"You have no member with external id '{external_id}'.", "member_not_found"
            )
        return link

    def member_membership(
        self, link: PartnerCustomer, slug: str | None, *, field: str = "program"
    ) -> Membership:
        """The member's membership in program ``slug``, or in their only program with you."""
        return self.membership_choose(link.customer.visible_memberships, slug, field=field)

    def membership_choose(
        self, memberships: list[Membership], slug: str | None, *, field: str = "program"
    ) -> Membership:
        """Of a member's visible ``memberships``: the one in program ``slug``, or the only
        one; else the error that says why not."""
        if slug:
            found = [m for m in memberships if m.program.slug == slug]
            if found:
                return found[0]
            if not partner_programs(partner=self.partner).filter(slug=slug).exists():
                raise unknown_program(field)
            raise MemberNotEnrolled(f"The member is not enrolled in '{slug}'.", field=field)
        if len(memberships) == 1:
            return memberships[0]
        if not memberships:
            raise MemberNotEnrolled("The member is not enrolled in any of your programs.")
        slugs = ", ".join(m.program.slug for m in memberships)
        raise ValidationError(
            {field: [f"The member is in several of your programs ({slugs}); name one."]},
            code="required",
        )

    def link_memberships(self, link: PartnerCustomer, slug: str | None) -> list[Membership]:
        """The member's membership in program ``slug`` if given, else all visible ones."""
        if slug:
            return [self.member_membership(link, slug)]
        return link.customer.visible_memberships

    def program_by_slug(self, slug: str) -> Program:
        """One of the partner's programs, or 400 ``unknown_program``."""
        program = partner_programs(partner=self.partner).filter(slug=slug).first()
        if program is None:
            raise unknown_program()
        return program


def unknown_program(field: str = "program") -> ValidationError:
    return ValidationError(
        {field: ["None of your programs has this slug."]}, code="unknown_program"
    )
