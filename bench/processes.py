"""The application's processes as production runs them: gunicorn with several sync workers
and Celery prefork workers, both with loyalty_site.settings.production. Each is started in
a session of its own and stopped by its process group; the worker's resident memory is
sampled from /proc while it drains."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import suppress
from pathlib import Path

import httpx

from bench.config import BASE_DIR

START_TIMEOUT = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    def __init__(self, name: str, command: list[str], env: dict, log_path: Path):
        self.name = name
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.popen = subprocess.Popen(  # noqa: S603 - our interpreter, our arguments
                command,
                cwd=BASE_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 10) -> None:
        if self.alive():
            with suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout)
        with suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.popen.wait(5)


def start_web(env: dict, workers: int, log_dir: Path, name: str = "web") -> tuple[Process, str]:
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "loyalty_site.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--worker-class", "sync",
        "--timeout", "120", "--log-level", "warning",
    ]  # fmt: skip
    web = Process(name, command, env, log_dir / f"{name}.log")
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if not web.alive():
            raise RuntimeError(f"gunicorn exited:\n{web.log_tail()}")
        try:
            response = httpx.get(
                f"{base_url}/healthz", headers={"X-Forwarded-Proto": "https"}, timeout=5
            )
            if response.status_code == 200:
                return web, base_url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    web.stop()
    raise RuntimeError(f"gunicorn did not answer /healthz within {START_TIMEOUT} s")


def start_worker(env: dict, concurrency: int, log_dir: Path, queues: str | None = None) -> Process:
    """A worker for ``queues`` (a comma list), by default every queue of the settings
    (CELERY_TASK_QUEUES, i.e. CELERY_ALL_QUEUES), as deploy/start runs it."""
    number = len(list(log_dir.glob("worker-*.log"))) + 1
    command = [
        sys.executable, "-m", "celery", "-A", "loyalty_site", "worker",
        "--concurrency", str(concurrency), "--pool", "prefork", "-l", "INFO",
        "--without-mingle", "--without-gossip", "-n", f"bench{number}@%h",
        *(["--queues", queues] if queues else []),
    ]  # fmt: skip
    worker_env = {**env, "LOG_LEVEL": "INFO"}
    worker = Process("worker", command, worker_env, log_dir / f"worker-{number}.log")
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if not worker.alive():
            raise RuntimeError(f"celery worker exited:\n{worker.log_tail()}")
        if " ready." in worker.log_tail(200):
            return worker
        time.sleep(0.3)
    worker.stop()
    raise RuntimeError(f"celery worker not ready within {START_TIMEOUT} s")


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_ticks(pid: int) -> int:
    """CPU time (user + system, in clock ticks) of a process and its children."""
    total = 0
    for one in [pid, *children(pid)]:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total


CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all cores since boot, from the first line of /proc/stat
    (busy: everything but idle and iowait)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal (guest is in user)
    return total - fields[3] - fields[4], total


def _kind(pid: str, comm: str) -> str:
    """What a process of the machine is, for the CPU split of a drain."""
    if comm in ("postgres", "postmaster"):
        return "postgresql"
    if comm.startswith("redis"):
        return "redis"
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return "other"
    for needle, kind in ((b"gunicorn", "web"), (b"bench.load", "load generator"),
                         (b"celery", "workers"), (b"-m bench", "bench harness")):  # fmt: skip
        if needle in cmdline:
            return kind
    return "other"


def ticks_by_kind() -> dict[tuple[int, str], int]:
    """CPU ticks of every process of the machine, keyed by (pid, kind)."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        comm = text[text.index("(") + 1 : text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        out[(int(entry.name), _kind(entry.name, comm))] = int(fields[11]) + int(fields[12])
    return out


class CpuMeter:
    """CPU seconds (user + system, /proc/<pid>/stat) each worker's processes use between
    ``start()`` and ``stop()``: the parent and every pool process (its children) one by one,
    plus what pool processes that exited meanwhile had used (the parent's reaped-children
    time); and how many of the machine's cores were busy meanwhile (/proc/stat)."""

    def __init__(self, workers: dict[str, "Process"]):
        self.workers = workers

    def _read(self) -> dict:
        per = {}
        for name, worker in self.workers.items():
            ticks = {}
            reaped = 0
            for pid in [worker.pid, *children(worker.pid)]:
                fields = _stat_fields(pid)
                if fields is None:
                    continue
                ticks[pid] = int(fields[11]) + int(fields[12])  # utime, stime
                if pid == worker.pid:
                    reaped = int(fields[13]) + int(fields[14])  # cutime, cstime
            per[name] = (ticks, reaped)
        return {
            "workers": per,
            "machine": machine_ticks(),
            "by_kind": ticks_by_kind(),
            "at": time.monotonic(),
        }

    def start(self) -> None:
        self.before = self._read()

    def stop(self) -> dict:
        after = self._read()
        seconds = after["at"] - self.before["at"]
        out: dict = {"seconds": round(seconds, 2), "cores": os.cpu_count(), "workers": {}}
        for name, worker in self.workers.items():
            ticks_before, reaped_before = self.before["workers"].get(name, ({}, 0))
            ticks_after, reaped_after = after["workers"][name]
            pool = [
                round((ticks - ticks_before.get(pid, 0)) / CLOCK_TICKS, 2)
                for pid, ticks in sorted(ticks_after.items())
                if pid != worker.pid
            ]
            parent = ticks_after.get(worker.pid, 0) - ticks_before.get(worker.pid, 0)
            out["workers"][name] = {
                "pool_cpu_s": pool,
                "parent_cpu_s": round(parent / CLOCK_TICKS, 2),
                "exited_pool_cpu_s": round((reaped_after - reaped_before) / CLOCK_TICKS, 2),
            }
        # Every process of the machine by kind (PostgreSQL's backends, the web, the load
        # generator...): who had the cores. Processes that ended meanwhile are not counted.
        by_kind: dict[str, int] = {}
        for key, ticks in after["by_kind"].items():
            used = ticks - self.before["by_kind"].get(key, 0)
            by_kind[key[1]] = by_kind.get(key[1], 0) + max(used, 0)
        out["by_kind_cpu_s"] = {
            kind: round(ticks / CLOCK_TICKS, 1)
            for kind, ticks in sorted(by_kind.items(), key=lambda item: -item[1])
        }
        busy = after["machine"][0] - self.before["machine"][0]
        total = after["machine"][1] - self.before["machine"][1]
        if total > 0 and out["cores"]:
            out["machine_busy_cores"] = round(busy / total * out["cores"], 2)
        return out


def wait_idle(process: "Process", timeout: float = 120, interval: float = 0.5) -> float:
    """Wait until the process tree has used (almost) no CPU for two intervals in a row:
    the web server has finished the requests it took, the worker the tasks it holds."""
    started = time.monotonic()
    calm = 0
    last = cpu_ticks(process.pid)
    while calm < 2 and time.monotonic() - started < timeout:
        time.sleep(interval)
        now = cpu_ticks(process.pid)
        calm = calm + 1 if now - last <= 2 else 0
        last = now
    return round(time.monotonic() - started, 1)


class RssSampler(threading.Thread):
    """Every ``interval`` seconds: the resident memory of the worker's pool processes."""

    def __init__(self, parent_pid: int, interval: float = 0.5):
        super().__init__(daemon=True)
        self.parent_pid = parent_pid
        self.interval = interval
        self.samples: list[tuple[float, dict[int, int]]] = []
        self._halt = threading.Event()
        self.started_at = time.monotonic()

    def run(self) -> None:
        while not self._halt.is_set():
            sample = {}
            for pid in [self.parent_pid, *children(self.parent_pid)]:
                value = rss_kib(pid)
                if value is not None:
                    sample[pid] = value
            self.samples.append((time.monotonic() - self.started_at, sample))
            self._halt.wait(self.interval)

    def stop(self) -> dict:
        self._halt.set()
        self.join(5)
        pool = {}
        for t, sample in self.samples:
            for pid, kib in sample.items():
                if pid != self.parent_pid:
                    pool.setdefault(pid, []).append((t, kib))
        per_process = []
        for pid, series in pool.items():
            values = [kib for _, kib in series]
            # Growth: the last tenth of the samples against the first tenth after warm-up.
            tenth = max(1, len(values) // 10)
            early = sum(values[tenth : 2 * tenth]) / max(1, len(values[tenth : 2 * tenth]))
            late = sum(values[-tenth:]) / tenth
            per_process.append(
                {
                    "pid": pid,
                    "samples": len(values),
                    "start_mib": round(values[0] / 1024, 1),
                    "max_mib": round(max(values) / 1024, 1),
                    "end_mib": round(values[-1] / 1024, 1),
                    "growth_mib": round((late - early) / 1024, 1),
                }
            )
        return {"interval_s": self.interval, "pool_processes": per_process}
