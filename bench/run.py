"""The bench run, start to end: fresh database, seed, raw limits, the application under
load, the award pipeline, the nightly jobs, the report. Every phase is bounded in time;
a phase whose code does not exist yet is reported as not available; a phase that fails is
recorded and the run goes on, so the report is always written (exit code 1 then)."""

import dataclasses
import os
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from urllib.parse import urlparse

from bench import config
from bench.config import log, recreate_database
from bench.report import NOT_AVAILABLE


class Run:
    def __init__(self):
        self.scale = config.scale_from_env()
        self.db_url = config.database_url()
        self.redis_url = config.redis_url()
        self.env = {**os.environ, **config.production_environ(self.db_url, self.redis_url)}
        self.results: dict = {}
        self.errors: dict = {}
        self.processes: list = []
        self.started_at = datetime.now(UTC)
        stamp = self.started_at.strftime("%Y%m%dT%H%M%S")
        self.work_dir = config.VAR_DIR / "runs" / stamp
        self.work_dir.mkdir(parents=True, exist_ok=True)

    def phase(self, key: str, func, *args):
        log(f"{key} ...")
        try:
            value = func(*args)
        except Exception as exc:  # recorded in the report; the run goes on
            self.errors[key] = f"{type(exc).__name__}: {exc}"[:1500]
            log(f"{key} FAILED: {exc}\n{traceback.format_exc()}")
            return None
        if value is not None:
            self.results[key] = value
            if isinstance(value, dict) and "per_second" in value:
                log(f"  {key}: {value.get('per_second')}/s p99 {value.get('p99_ms')} ms")
        return value

    def stop_processes(self) -> None:
        while self.processes:
            self.processes.pop().stop()

    # --- the run ----------------------------------------------------------------------------
    def main(self) -> int:
        os.environ.update(self.env)
        log(f"scale {self.scale.name}; database {urlparse(self.db_url).path[1:]}; "
            f"work dir {self.work_dir}")  # fmt: skip
        recreate_database(self.db_url)
        import django

        django.setup()
        from django.core.management import call_command

        started = time.monotonic()
        call_command("migrate", verbosity=0, interactive=False)
        call_command("collectstatic", verbosity=0, interactive=False)
        self.results["setup_s"] = round(time.monotonic() - started, 1)
        try:
            self.run_phases()
        finally:
            self.stop_processes()
        return self.write_report()

    def run_phases(self) -> None:
        from bench.seed import Seeder

        seeder = Seeder(self.db_url, self.scale, log)
        started = time.monotonic()
        seeded = seeder.history()
        self.results["seed"] = {"seconds": round(time.monotonic() - started, 1),
                                "steps": seeder.timings}  # fmt: skip
        self.phase("raw", self.raw_limits)
        self.phase("http", self.http_phases, seeder, seeded)
        self.phase("nightly", self.nightly)
        self.phase("large_tables", self.large_tables)
        self.phase("what_if", self.what_if)
        self.phase("imports", self.imports)
        self.phase("exports", self.exports)

    def raw_limits(self) -> None:
        from bench.raw import Raw

        raw = Raw(self.db_url, self.scale.customers, config.CONCURRENCY, self.scale.raw_duration)
        for key, value in raw.run().items():
            self.results[key] = value
            log(f"  {key}: {value['per_second']}/s p99 {value['p99_ms']} ms")

    def http_phases(self, seeder, seeded) -> None:
        from bench import app, processes

        web, base_url = processes.start_web(self.env, config.web_workers(), self.work_dir)
        self.processes.append(web)
        load = app.LoadRunner(web, base_url, seeded["api_key"], self.work_dir, self.scale.duration)
        members = [f"c-{i}" for i in range(1, self.scale.customers + 1)]
        api = load.api_headers()
        self.phase("http.floor", load.run, {"kind": "pages", "paths": ["/healthz"]})
        self.phase("http.static", load.run, {"kind": "pages", "paths": [self._static_path()]})
        # Ingest with no worker running: the award messages wait in the queue and the
        # purchases join the backlog the pipeline drains below.
        spy = self.profile_start("api.ingest_single", web.pid, self.scale.duration)
        self.phase("api.ingest_single", load.run, {
            "kind": "ingest_single", "members": members, "headers": api,
            "order_prefix": "single"})  # fmt: skip
        self.profile_finish(spy)
        batch = {"kind": "ingest_batch", "members": members, "headers": api,
                 "batch_size": self.scale.batch_size, "order_prefix": "batch"}  # fmt: skip
        spy = self.profile_start("api.ingest_batch", web.pid, self.scale.duration)
        self.phase("api.ingest_batch", load.run, batch)
        self.profile_finish(spy)
        self.phase("portal.dashboard", self.portal, load, seeded)
        self.phase("staff.dashboard", self.staff, load, seeded)
        self.phase("award", self.award, seeder, load, members, web, base_url, seeded)
        if config.replica_enabled():
            self.phase("replica", self.replica_reads, load, members, seeded)

    def profile_start(self, name: str, pid: int, seconds: float):
        """With BENCH_PROFILE=1: py-spy samples the process tree while the phase runs."""
        from bench import profile

        if not profile.enabled():
            return None
        out = self.work_dir / f"profile-{name}.txt"
        return name, out, profile.start(pid, seconds, out)

    def profile_finish(self, spy) -> None:
        from bench import profile

        if spy is None:
            return
        name, out, process = spy
        if process is not None:
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                process.kill()
        self.results.setdefault("profiles", {})[name] = profile.summarise(out)

    def _static_path(self) -> str:
        """A static file WhiteNoise serves before any view runs: the WSGI floor."""
        from django.templatetags.static import static

        return static("admin/css/base.css")

    def _session_cookie(self, key: str) -> str:
        from django.conf import settings

        return f"{settings.SESSION_COOKIE_NAME}={key}"

    def portal(self, load, seeded):
        from bench import app

        path = app.portal_dashboard_path()
        if path is None:
            return NOT_AVAILABLE
        cookies = [self._session_cookie(k) for k in seeded["sessions"]["customers"]]
        result = load.run({"kind": "pages", "paths": [path], "cookies": cookies})
        result["path"] = path
        return result

    def staff(self, load, seeded):
        from bench import app

        path = app.staff_dashboard_path()
        if path is None:
            return NOT_AVAILABLE
        cookie = self._session_cookie(seeded["sessions"]["staff"])
        result = load.run({"kind": "pages", "paths": [path], "cookies": [cookie],
                           "concurrency": 1})  # fmt: skip
        result["path"] = path
        return result

    def award(self, seeder, load, members, web, base_url, seeded) -> None:
        from bench import app, processes

        purged = app.purge_queue()
        log(f"  purged {purged} queued award messages from the ingest phases")
        seeder.backlog(self.scale.backlog)
        try:
            from programs.services import awarding  # noqa: F401

            self.results["award.path"] = "programs.services.awarding (bulk)"
        except ImportError:
            self.results["award.path"] = "programs.services.purchases.purchases_award"
        # As docs/deploy.md recommends: a worker for the awards queue only, another for the
        # rest (e-mails, webhooks, ...), so that awards never wait behind the follow-up work.
        workers = self.start_queue_workers(config.celery_concurrency())
        worker = workers["awards"]
        sampler = processes.RssSampler(worker.pid)
        sampler.start()
        cpu = processes.CpuMeter(workers)
        cpu.start()
        reads = load.start({"kind": "balance", "members": members, "headers": load.api_headers()})
        spy = self.profile_start("award.drain", worker.pid, min(self.scale.drain_cap, 60))
        try:
            self.results["award.drain"] = app.drain(self.scale.drain_cap, log)
        finally:
            self.results["award.drain_cpu"] = cpu.stop()
            self.results["award.worker_rss"] = sampler.stop()
            self.phase("api.balance_during_drain", load.finish, *reads)
            self.profile_finish(spy)
        # A cut-off drain leaves the worker inside a batch and purchases received: set
        # those aside (rejected, with a reason) and start a fresh worker, so the idle
        # latency measures an idle pipeline, not the rest of the backlog.
        app.purge_queue()
        self.stop_queue_workers(workers)
        self.results["award.drain"]["set_aside"] = app.set_aside_backlog()
        self.phase("award.scaling", self.award_scaling, seeder)
        self.processes.append(
            processes.start_worker(self.env, config.celery_concurrency(), self.work_dir)
        )
        processes.wait_idle(web)
        self.phase("award.idle_latency", app.idle_latency, base_url, seeded["api_key"],
                   members, self.scale.idle_samples)  # fmt: skip

    def replica_reads(self, load, members, seeded) -> dict:
        from bench import replica

        return replica.reads(self, load, members, seeded)

    def start_queue_workers(self, awards_concurrency: int) -> dict:
        """A worker for ``awards`` with ``awards_concurrency`` processes and one for every
        other queue (config.other_worker_concurrency()), as docs/deploy.md runs them; or
        one worker for every queue (``BENCH_WORKER_LAYOUT=shared``)."""
        from django.conf import settings

        from bench import processes
        from loyalty_site.queues import AWARDS

        others = ",".join(q for q in settings.CELERY_ALL_QUEUES.split(",") if q != AWARDS)
        layout = (("awards", AWARDS, awards_concurrency),
                  ("others", others, config.other_worker_concurrency()))  # fmt: skip
        if config.worker_layout() == "shared":
            layout = (("awards", None, awards_concurrency),)  # every queue, as before #21
        workers = {}
        for name, queues, concurrency in layout:
            workers[name] = processes.start_worker(self.env, concurrency, self.work_dir, queues)
            self.processes.append(workers[name])
        return workers

    def stop_queue_workers(self, workers: dict) -> None:
        for worker in workers.values():
            self.processes.remove(worker)
            worker.stop()

    def award_scaling(self, seeder) -> dict:
        """1 against 2 processes on the awards queue (issue 21): the same backlog drained
        twice, each time by fresh workers (awards with 1, then 2 processes, and the worker
        for the other queues), with nothing else running; rate, longest pause and the CPU
        seconds of every process. On a machine with two cores shared with PostgreSQL this
        shows contention more than scaling, hence the core count and the CPU per process."""
        from bench import app, processes

        size = config.scaling_backlog(self.scale)
        seeded_in = seeder.timings.get("backlog")
        out = {"backlog": size, "cores": os.cpu_count()}
        for processes_count in (1, 2):
            seeder.backlog(size)
            workers = self.start_queue_workers(processes_count)
            cpu = processes.CpuMeter(workers)
            cpu.start()
            try:
                drained = app.drain(self.scale.drain_cap, log, follow_up=False)
            finally:
                used = cpu.stop()
                app.purge_queue()
                self.stop_queue_workers(workers)
            drained.pop("progress", None)
            drained["set_aside"] = app.set_aside_backlog()
            out[str(processes_count)] = {**drained, "cpu": used}
            log(f"  awards -c {processes_count}: {drained['per_second']} entries/s, longest "
                f"pause {drained['longest_pause_s']} s, CPU {used['workers']}")  # fmt: skip
        if seeded_in is not None:
            seeder.timings["backlog"] = seeded_in  # the seed's figure is the main backlog's
        return out

    def nightly(self) -> None:
        from bench import nightly, profile

        self.stop_processes()
        for key, job in nightly.JOBS.items():
            task = nightly.find_task(job["words"], job["modules"])
            if task is None:
                self.results[key] = NOT_AVAILABLE
                log(f"  {key}: {NOT_AVAILABLE}")
                continue
            # The aggregate first: a job that writes (expiry) leaves it nothing to find.
            aggregate = nightly.aggregate_seconds(job["aggregate"])
            out = self.work_dir / f"profile-{key}.txt" if profile.enabled() else None
            result = nightly.run_job(task, self.env, self.scale.job_cap, out)
            if out is not None:
                self.results.setdefault("profiles", {})[key] = profile.summarise(out)
            result["aggregate_s"] = round(aggregate, 4)
            self.results[key] = result
            log(f"  {key}: {result.get('seconds')} s (aggregate {result['aggregate_s']} s)")

    def large_tables(self) -> dict:
        """The large-table plan of issue 21 (``bench/partitions.py``): the expiry's writes
        on today's tables and on lots and ledger partitioned by month, against a COPY of
        the same entries, on this run's data."""
        from bench import partitions

        self.stop_processes()
        return partitions.run(self.db_url)

    def what_if(self) -> None:
        """A proposed change replayed against the whole history (``bench/what_if.py``)."""
        from bench import what_if

        self.stop_processes()
        for kind, result in what_if.run_all(self.env, self.scale.job_cap).items():
            self.results[f"what_if.{kind}"] = result
            log(f"  what_if.{kind}: {result.get('seconds')} s for {result.get('purchases')} "
                "purchases")  # fmt: skip

    def imports(self) -> None:
        """The members import at N rows next to a raw COPY of them (``bench/imports.py``)."""
        from bench import imports

        self.stop_processes()
        result = imports.run_module("bench.imports", self.env, self.scale.job_cap * 4)
        self.results["imports.members"] = result
        log(f"  imports.members: check {result.get('check_per_s')}/s, commit "
            f"{result.get('commit_per_s')}/s, COPY {result.get('copy_per_s')}/s")  # fmt: skip

    def exports(self) -> None:
        """Members and ledger exports streamed through the admin (``bench/export_memory.py``)."""
        from bench import imports

        self.stop_processes()
        self.results["exports"] = imports.run_module(
            "bench.export_memory",
            self.env,
            self.scale.job_cap * 2,
            {"ALLOWED_HOSTS": "testserver,127.0.0.1,localhost"},  # its Django test client
        )

    # --- report -------------------------------------------------------------------------------
    def write_report(self) -> int:
        from django.db import connection

        from bench import report

        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]
            db_settings = {}
            for name in ("shared_buffers", "synchronous_commit", "max_connections"):
                cursor.execute(f"SHOW {name}")
                db_settings[name] = cursor.fetchone()[0]
        try:
            import redis

            redis_version = redis.Redis.from_url(self.redis_url).info("server")["redis_version"]
        except Exception:  # the version is a detail of the report, not a reason to fail
            redis_version = "?"
        data = {
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "scale": dataclasses.asdict(self.scale),
            "settings": {
                "concurrency": config.CONCURRENCY,
                "web_workers": config.web_workers(),
                "worker_concurrency": config.celery_concurrency(),
                "award_worker_queues": config.WORKER_LAYOUTS[config.worker_layout()],
                "other_worker_concurrency": config.other_worker_concurrency(),
                "settings_module": self.env["DJANGO_SETTINGS_MODULE"],
            },
            "machine": report.machine(version, db_settings, redis_version),
            "results": self.results,
            "errors": self.errors,
        }
        data["machine"]["load_average_at_end"] = os.getloadavg()
        data["table"] = report.rows(self.results, self.scale)
        stem = self.started_at.strftime("%Y-%m-%d")
        if self.scale.name != "default":
            stem += f"-{self.scale.name}"
        if config.worker_layout() != "queues":
            stem += f"-{config.worker_layout()}"
        json_path, md_path = report.write(data, config.RESULTS_DIR, stem)
        print(report.markdown(data))
        log(f"report: {json_path} and {md_path}")
        return 1 if self.errors else 0


def main() -> int:
    if sys.platform != "linux":
        log("the bench reads /proc for worker memory; it runs on Linux only")
    return Run().main()
