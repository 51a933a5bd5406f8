"""A partner links a member by the card the customer shows at its till.

The card number identifies the membership; the link (``PartnerCustomer``) is what lets the
partner see the customer. It is made only with the customer's proof (the portal's rotating
code or the PIN), checked by the API view before anything is written: a printed number
alone links nothing. The conflicts are the upsert's (``partner_members``): the partner
already has this customer under another external id, or its external id already names
another customer. Asking again for a link that exists answers it without a new proof:
it writes nothing and tells the partner nothing it could not read already.
"""

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from programs.errors import LoyaltyError
from programs.models import Membership, Partner, PartnerCustomer
from programs.services.memberships import partner_customer_link
from programs.services.partner_members import ConcurrentUpdate, MemberAlreadyLinked


class ExternalIdTaken(LoyaltyError):
    code = "external_id_taken"
    status = 409
    default_message = _("You already use this external id for another member.")


def card_link_existing(
    *, partner: Partner, membership: Membership, external_id: str
) -> PartnerCustomer | None:
    """The partner's link of the card's customer under ``external_id`` if there is one;
    None if neither the customer nor the external id is linked yet; else the conflict
    (``MemberAlreadyLinked``, ``ExternalIdTaken``)."""
    links = list(
        PartnerCustomer.objects.filter(partner=partner).filter(
            Q(customer_id=membership.customer_id) | Q(external_id=external_id)
        )
    )
    for link in links:
        if link.customer_id == membership.customer_id and link.external_id == external_id:
            return link
    for link in links:
        if link.customer_id == membership.customer_id:
            raise MemberAlreadyLinked(
                f"This card belongs to your member '{link.external_id}'.", field="external_id"
            )
    if links:
        raise ExternalIdTaken(field="external_id")
    return None


def card_link_create(
    *, partner: Partner, membership: Membership, external_id: str
) -> PartnerCustomer:
    """Link the card's customer to ``partner`` under ``external_id``. The caller has
    checked the customer's proof. A concurrent request that linked first wins: the same
    link is answered, a different one is the conflict it makes."""
    try:
        with transaction.atomic():
            link = partner_customer_link(
                partner=partner, customer=membership.customer, external_id=external_id
            )
    except IntegrityError:  # the external id was taken meanwhile
        link = None
    if link is None or link.external_id != external_id:
        link = card_link_existing(partner=partner, membership=membership, external_id=external_id)
        if link is None:
            raise ConcurrentUpdate()
    return link
