"""The what-if (issue #18): a proposed change replayed against the whole awarded history,
timed as the worker computes it.

Two runs on the bench program, each in a process of its own with the production settings
(as a worker would run it) and cut off after the scale's job cap: new tier thresholds
(Silber 500 -> 300, Gold 2000 -> 1500; Silber and Gold earning x1.25 and x1.5) and a draft
campaign (double points on tea at weekends, capped per member, per day and by a budget).
Both replay every purchase of the history (``MONTHS`` reaches back past its start), the
target being a minute for a million.

Run as ``python -m bench.what_if <tiers|campaign>``: computes one run in-process and prints
its seconds, CPU seconds, purchases replayed and a few result figures as JSON.
"""

import json
import subprocess
import sys
import time

from bench.config import BASE_DIR

MONTHS = 26  # the bench history spans 745 days: all of it
TARGET_SECONDS_PER_MILLION = 60


def run_all(env: dict, cap: float) -> dict:
    """Both what-ifs, each in its own process; their answers by kind."""
    return {kind: _run(kind, env, cap) for kind in ("tiers", "campaign")}


def _run(kind: str, env: dict, cap: float) -> dict:
    command = [sys.executable, "-m", "bench.what_if", kind]
    started = time.monotonic()
    try:
        done = subprocess.run(  # noqa: S603 - our interpreter, our arguments
            command, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=cap
        )
    except subprocess.TimeoutExpired:
        return {"kind": kind, "cut_off_after_s": cap, "seconds": None}
    if done.returncode != 0:
        return {"kind": kind, "error": done.stderr[-2000:], "seconds": None}
    answer = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not answer:
        return {"kind": kind, "error": done.stdout[-2000:], "seconds": None}
    result = json.loads(answer[-1])
    result["process_wall_s"] = round(time.monotonic() - started, 2)
    return result


def proposal(kind: str, program) -> dict:
    """The change each run replays (see the module docstring)."""
    from datetime import timedelta

    from django.utils import timezone

    from programs.models import Campaign
    from programs.what_if.campaign import draft_data

    if kind == "tiers":
        tiers = dict(program.tiers.values_list("name", "pk"))
        return {"thresholds": {str(tiers["Silber"]): "300", str(tiers["Gold"]): "1500"}}
    starts = timezone.now() + timedelta(days=7)
    campaign = Campaign(
        program=program,
        name="Tee-Wochenenden",
        starts_at=starts,
        ends_at=starts + timedelta(days=800),  # longer than the history: all of it
        categories=["tea"],
        weekdays=[5, 6],
        multiplier=2,
        cap_per_member=200,
        cap_per_member_day=100,
        budget_points=2_000_000,
    )
    return draft_data(campaign, [])


def tiers_earning_apart(program) -> None:
    """The seeded tiers all earn one point per euro; a what-if then never computes a
    purchase twice. Silber and Gold get the usual multipliers (the award phases are over),
    so that a member in another tier on each side costs two calculations, as in a real
    program."""
    from decimal import Decimal

    for name, multiplier in (("Silber", "1.25"), ("Gold", "1.5")):
        program.tiers.filter(name=name).update(earn_multiplier=Decimal(multiplier))


def main() -> int:
    import django

    django.setup()
    from programs.models import Program, WhatIfRun, WhatIfStatus
    from programs.what_if.runs import what_if_run
    from programs.what_if.tiers import tier_proposal_clean

    kind = sys.argv[1]
    program = Program.objects.get(slug="bench")
    tiers_earning_apart(program)
    change = proposal(kind, program)
    if kind == "tiers":
        change = tier_proposal_clean(program, change)
    # The run as ``what_if_start`` records it, computed here rather than by a worker.
    run = WhatIfRun.objects.create(program=program, kind=kind, months=MONTHS, proposal=change)
    started, cpu = time.monotonic(), time.process_time()
    run = what_if_run(run.pk)
    elapsed, cpu = time.monotonic() - started, time.process_time() - cpu
    if run.status != WhatIfStatus.DONE:
        print(json.dumps({"kind": kind, "error": run.error, "seconds": None}))
        return 1
    result = run.result
    figures = {
        "tiers": ("moved_up", "moved_down", "points_difference", "liability_change"),
        "campaign": ("bonus_points", "members_receiving", "budget_exhausted_day"),
    }[kind]
    print(
        json.dumps(
            {
                "kind": kind,
                "seconds": round(elapsed, 2),
                "cpu_seconds": round(cpu, 2),
                "purchases": result["purchases"],
                "members": result["members"],
                **{name: result.get(name) for name in figures},
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
