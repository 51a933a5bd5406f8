"""What a long-lived process (a web worker, a Celery pool process) does once it has
loaded the project: load what would otherwise load on the first request, then move every
object alive at that point out of the garbage collector's reach (``gc.freeze``).

The project's modules, models, URL patterns and libraries (scipy and openpyxl among them)
are a few hundred thousand objects that live as long as the process. Every full collection
walked all of them again: in an award batch of 1,000 purchases that was about 60 ms of
about 300 ms of CPU (docs/benchmarks.md, 2026-12-05). Frozen, they are never walked; the
objects a request or a task creates are collected as before.
"""

import gc

from django.urls import get_resolver


def startup_objects_freeze(*, urls: bool = False) -> int:
    """Freeze the objects alive now; with ``urls``, import the URL patterns first (a web
    process would import them on its first request). Returns how many objects are frozen."""
    if urls:
        get_resolver().url_patterns  # noqa: B018 - imports every view module
    gc.collect()  # what is already garbage is freed, not frozen
    gc.freeze()
    return gc.get_freeze_count()
