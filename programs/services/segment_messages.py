"""Staff write to a segment: one notification per member, in the portal's feed and, for
customers who agreed to marketing e-mails, by e-mail through the outbox."""

import uuid

from django.db import transaction
from django.utils import timezone

from programs.errors import LoyaltyError
from programs.models import Segment
from programs.notifications.kinds import NotificationKind
from programs.notifications.services import NotificationSpec, notifications_create_many
from programs.segments import segment_members

BATCH = 2000


class EmptyMessage(LoyaltyError):
    code = "empty_message"


def segment_message_send(
    *, segment: Segment, title: str, body: str, title_en: str = "", body_en: str = "", now=None
) -> int:
    """Write the message to every member of the segment now; returns how many were
    written. The e-mails go after the commit, each switched off for customers who did not
    agree to marketing e-mails."""
    title, body = title.strip(), body.strip()
    if not title or not body:
        raise EmptyMessage("Give the message a title and a text.", field="title")
    now = now or timezone.now()
    sending = uuid.uuid4().hex[:12]  # this sending: a second one is a new message
    params = {
        "title": title,
        "body": body,
        "title_en": title_en.strip(),
        "body_en": body_en.strip(),
        "program": segment.program.name,
        "segment": segment.name,
    }
    members = segment_members(segment, now=now).values_list("pk", "customer_id")
    written = 0
    with transaction.atomic():
        batch = []
        for membership_id, customer_id in members.iterator(chunk_size=BATCH):
            batch.append(
                NotificationSpec(
                    customer_id=customer_id,
                    membership_id=membership_id,
                    kind=NotificationKind.SEGMENT_MESSAGE,
                    cause_key=f"segment-message:{segment.pk}:{sending}:{membership_id}",
                    params=params,
                )
            )
            if len(batch) >= BATCH:
                written += notifications_create_many(batch, at=now)
                batch = []
        if batch:
            written += notifications_create_many(batch, at=now)
    return written
