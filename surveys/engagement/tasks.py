"""Celery task of the engagement scores: the nightly recompute."""

from celery import shared_task
from django.db import OperationalError

from surveys.engagement.scores import engagement_recompute


@shared_task(
    ignore_result=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3
)
def recompute_engagement_task() -> int:
    return engagement_recompute()
