"""Batches that fail small: one bad item never stops the others.

``batch_apply`` runs a batch in one transaction; when it fails, the batch is split in
halves and each half tried on its own, down to the single items that fail alone. Those are
handed to ``park`` (which records why, so that nothing is tried again and again), the rest
commit. One bad item in 1,000 costs about twenty extra transactions (two per halving).
``each_apply`` is the same for workers that already handle one item per transaction.

Transient failures (a lost connection, a deadlock, the task's time limit) are not the
item's fault: they are raised, for the task to be retried as a whole.
"""

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from celery.exceptions import SoftTimeLimitExceeded
from django.db import InterfaceError, OperationalError

logger = logging.getLogger("loyalty_site.batches")

T = TypeVar("T")
TRANSIENT = (OperationalError, InterfaceError, SoftTimeLimitExceeded)


def failure_reason(exc: BaseException) -> str:
    """The first line of the error, named by its type: what staff and partners are shown."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}"[:500] if lines else type(exc).__name__


def batch_apply(
    items: Sequence[T],
    apply: Callable[[list[T]], int],
    park: Callable[[T, Exception], int],
) -> int:
    """``apply(items)`` (which commits or rolls back as a whole, and returns a count);
    if it fails, each half again, recursively; ``park(item, error)`` for each item that
    fails alone. Returns the sum of the counts. Inside an outer transaction ``apply`` must
    use a savepoint (``transaction.atomic``), so that a failed half leaves the rest."""
    items = list(items)
    if not items:
        return 0
    try:
        return apply(items)
    except TRANSIENT:
        raise
    except Exception as exc:
        if len(items) == 1:
            logger.exception("parked %r: %s", items[0], failure_reason(exc))
            return park(items[0], exc)
        logger.warning("a batch of %d failed (%s); splitting it", len(items), failure_reason(exc))
    middle = len(items) // 2
    return batch_apply(items[:middle], apply, park) + batch_apply(items[middle:], apply, park)


def each_apply(
    items: Iterable[T],
    apply: Callable[[T], object],
    park: Callable[[T, Exception], object],
    transient: tuple[type[BaseException], ...] = TRANSIENT,
) -> list:
    """``apply(item)`` for each item (each its own transaction), in order; an item that
    fails is handed to ``park`` and the next one goes on. Returns the results (a failed
    item's is what ``park`` returned). ``transient``: errors that stop the run instead
    (e.g. add ``OSError`` where a mail server outage should end the task)."""
    results = []
    for item in items:
        try:
            results.append(apply(item))
        except transient:
            raise
        except Exception as exc:
            logger.exception("parked %r: %s", item, failure_reason(exc))
            results.append(park(item, exc))
    return results
