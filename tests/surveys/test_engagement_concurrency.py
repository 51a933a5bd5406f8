"""The engagement recompute and the customer-value fit both write the memberships'
figures; on real PostgreSQL with real threads, a fit that gives a new membership its
first figures while the recompute runs is waited for, not collided with."""

import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone

from programs.models import MembershipFigures
from programs.services.figures import MemberValue, figures_value_write
from surveys.engagement import score_rows
from surveys.engagement.scores import engagement_recompute, engagement_weights

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_a_fit_writing_a_new_memberships_figures_meanwhile_is_waited_for(member):
    membership = member()  # no figures yet: the recompute would insert its row
    written, failures = threading.Event(), []

    def fit() -> None:
        try:
            with transaction.atomic():
                figures_value_write(
                    program_id=membership.program_id,
                    values=[
                        MemberValue(membership.pk, Decimal("0.5"), Decimal("1.00"), Decimal("9.50"))
                    ],
                    horizon_months=12,
                    computed_at=timezone.now(),
                )
                written.set()
                time.sleep(1)  # uncommitted while the recompute reaches its write
        except Exception as exc:  # asserted on below
            failures.append(exc)
        finally:
            written.set()
            connection.close()

    thread = threading.Thread(target=fit, daemon=True)
    thread.start()
    assert written.wait(10)
    scored = engagement_recompute()
    thread.join(10)

    assert not failures
    assert scored == 1
    figures = MembershipFigures.objects.get(membership=membership)
    assert figures.predicted_clv == Decimal("9.50")  # the fit's figures kept
    assert figures.engagement_score is not None  # and the recompute's written
    # a full churn-drop window, so the next night needs no rebuild from the history
    assert len(figures.engagement_window) == engagement_weights().churn_drop_days + 1
    with connection.cursor() as cursor:
        mode = score_rows.window_mode(
            cursor, today=timezone.localdate() + timedelta(days=1), weights=engagement_weights()
        )
    assert mode == score_rows.NIGHTLY
