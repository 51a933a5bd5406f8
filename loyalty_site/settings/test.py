"""Test settings: the base settings with fast hashing and tasks run in-process.

DATABASE_URL / REDIS_URL are honoured as in every environment; without DATABASE_URL the
tests run on the embedded PostgreSQL under var/ (``loyalty_site/local_postgres.py``). Tests
marked ``worker`` start a real Celery worker and switch eager mode off.
"""

from .base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Tests never share a cache with the broker: clearing it must not flush queued tasks.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
STATIC_ROOT = None
