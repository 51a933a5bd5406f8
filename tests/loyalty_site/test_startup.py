"""A web process freezes what it loaded (``loyalty_site.startup``): the project's objects
leave the garbage collector's full collections, and what requests create later is still
collected. Run in a fresh interpreter: freezing this test process would keep the
suite's objects forever."""

import os
import subprocess
import sys
import textwrap

from django.conf import settings

CHECK = textwrap.dedent(
    """
    import gc, sys
    import loyalty_site.wsgi  # what gunicorn loads

    assert "programs.api.views.purchases" in sys.modules, "URL patterns not loaded"
    from programs.api.views.purchases import PurchaseCreateView
    frozen = gc.get_freeze_count()
    tracked = {id(o) for o in gc.get_objects()}
    assert id(PurchaseCreateView.post) not in tracked, "a view is still walked by the collector"

    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle made after the freeze
    del a, b
    assert gc.collect() >= 2, "garbage made after the freeze was not collected"
    print(frozen)
    """
)


def test_web_process_freezes_the_loaded_project_and_still_collects_new_garbage():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ["DJANGO_SETTINGS_MODULE"]}
    done = subprocess.run(  # noqa: S603 - our interpreter, our code
        [sys.executable, "-c", CHECK],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout.strip().splitlines()[-1]) > 100_000  # the project, not a handful
