"""Services enqueue tasks by name (``loyalty_site.core.commit``): every such name must be
a registered task in every process, the web server's included, not only in the worker."""

import os
import subprocess
import sys

from django.conf import settings

from programs.notifications.services import SEND_TASK as NOTIFICATION_EMAILS
from programs.notifications.services import TIER_PROGRESS_TASK
from programs.services.awarding import AWARD_TASK
from programs.services.webhook_events import DELIVER_TASK
from surveys.services.invitations import SEND_TASK as INVITATION_EMAIL
from surveys.services.snapshots import SNAPSHOTS_TASK

NAMES = [
    AWARD_TASK,
    DELIVER_TASK,
    NOTIFICATION_EMAILS,
    TIER_PROGRESS_TASK,
    INVITATION_EMAIL,
    SNAPSHOTS_TASK,
]


def test_a_fresh_web_process_knows_every_task_the_services_enqueue_by_name():
    script = (
        "import django; django.setup()\n"
        "from celery import current_app\n"
        "print('\\n'.join(sorted(current_app.tasks)))\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "loyalty_site.settings"}
    result = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    registered = set(result.stdout.split())
    assert set(NAMES) <= registered, set(NAMES) - registered
