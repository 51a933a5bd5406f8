"""Transactions that lost a race, tried again.

PostgreSQL aborts one transaction of a deadlock (``40P01``) and, at the serializable level,
one of two conflicting ones (``40001``). Nothing was written; the same work a moment later
normally succeeds. ``retry_on_conflict`` runs a function that owns its transaction again,
a bounded number of times, after a short random pause, and raises the error if the last
try fails too. Inside an outer transaction it runs once: only the owner of the outermost
transaction can start it again.
"""

import logging
import random
import time
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from django.db import OperationalError, connection

logger = logging.getLogger("loyalty_site.conflicts")

P = ParamSpec("P")
R = TypeVar("R")
CONFLICT_STATES = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure
ATTEMPTS = 4
PAUSE = 0.05  # seconds, times the attempt number, times a random factor in [0.5, 1.5)


def is_conflict(exc: BaseException) -> bool:
    """A deadlock or serialization failure, as Django raises it (the driver's error is its
    cause)."""
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    return isinstance(exc, OperationalError) and getattr(cause, "sqlstate", None) in (
        CONFLICT_STATES
    )


def retry_on_conflict(func: Callable[P, R]) -> Callable[P, R]:
    """Decorate a function whose work is one transaction of its own (it opens it, and it
    commits when the function returns) to run it again after a deadlock or serialization
    failure, up to ``ATTEMPTS`` times in all."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if connection.in_atomic_block:
            return func(*args, **kwargs)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return func(*args, **kwargs)
            except OperationalError as exc:
                if attempt == ATTEMPTS or not is_conflict(exc):
                    raise
                logger.warning(
                    "%s: %s (attempt %d of %d); trying again",
                    func.__qualname__,
                    str(exc).strip().splitlines()[0],
                    attempt,
                    ATTEMPTS,
                )
                time.sleep(PAUSE * attempt * (0.5 + random.random()))  # noqa: S311 - jitter
        raise AssertionError("unreachable")

    return wrapper
