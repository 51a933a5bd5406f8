"""Optional sampling profiles (``BENCH_PROFILE=1``): py-spy attached to the web server or
the worker while a phase runs, summarised as the functions the samples were spent in.

py-spy writes collapsed stacks (``frame;frame;frame count``); the summary counts, per
function, the share of samples it was on the stack (inclusive) and on top (self)."""

import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from bench.config import BASE_DIR


def enabled() -> bool:
    return os.environ.get("BENCH_PROFILE", "").strip() in {"1", "true", "yes"}


def py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def start(pid: int, seconds: float, out: Path) -> subprocess.Popen | None:
    binary = py_spy()
    if binary is None:
        return None
    command = [
        binary, "record", "--pid", str(pid), "--subprocesses", "--duration",
        str(max(2, int(seconds) + 2)), "--rate", "100", "--format", "raw", "--nonblocking",
        "--output", str(out),
    ]  # fmt: skip
    return subprocess.Popen(  # noqa: S603 - the py-spy of this environment
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _frame_name(frame: str) -> str:
    """``func (path/to/file.py:12)`` -> ``func (file path relative to the project)``."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    root = str(BASE_DIR) + "/"
    if path.startswith(root):
        path = path[len(root) :]
    elif "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    return f"{name} ({path})"


def summarise(path: Path, top: int = 15) -> dict:
    if not path.exists():
        return {"error": "no profile written (py-spy missing or not permitted)"}
    inclusive: Counter = Counter()
    own: Counter = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit() or not stack:
            continue
        n = int(count)
        total += n
        frames = [_frame_name(f) for f in stack.split(";") if " (" in f]
        for name in set(frames):
            inclusive[name] += n
        if frames:
            own[frames[-1]] += n
    if not total:
        return {"samples": 0}

    def share(counter):
        return [(name, round(100 * n / total, 1)) for name, n in counter.most_common(top)]

    project = Counter(
        {
            k: v
            for k, v in inclusive.items()
            if k.split(" (", 1)[1].startswith(("programs/", "customers/", "surveys/", "loyalty"))
        }
    )
    return {
        "samples": total,
        "self_top": share(own),
        "project_inclusive_top": share(project),
    }
