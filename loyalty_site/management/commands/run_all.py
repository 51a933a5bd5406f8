"""Start the web server, a Celery worker and Celery beat together; Ctrl-C stops all three."""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

DEMO_LOGINS = [
    ("Staff (admin)", "staff", "loyalty-demo"),
    ("Customer (portal)", "anna.schmidt@example.com", "loyalty-demo"),
]


class Command(BaseCommand):
    help = "Run web, worker and beat in the foreground for development."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000")
        parser.add_argument("--concurrency", type=int, default=2)

    def handle(self, *args, addr, concurrency, **options):
        (settings.VAR_DIR / "broker" / "queue").mkdir(parents=True, exist_ok=True)
        (settings.VAR_DIR / "broker" / "control").mkdir(parents=True, exist_ok=True)
        python = sys.executable
        commands = {
            "web": [python, "manage.py", "runserver", addr, "--noreload"],
            "worker": [
                python, "-m", "celery", "-A", "loyalty_site", "worker",
                "--loglevel", "INFO", "--concurrency", str(concurrency),
            ],
            "beat": [
                python, "-m", "celery", "-A", "loyalty_site", "beat", "--loglevel", "INFO",
                "--schedule", str(settings.VAR_DIR / "celerybeat-schedule"),
            ],
        }  # fmt: skip
        processes = {
            name: subprocess.Popen(cmd, env=os.environ.copy())  # noqa: S603 - our own argv
            for name, cmd in commands.items()
        }
        self._print_banner(addr)
        try:
            while True:
                for name, proc in processes.items():
                    if proc.poll() is not None:
                        self.stderr.write(f"{name} exited with code {proc.returncode}; stopping.")
                        return
                time.sleep(1)
        except KeyboardInterrupt:
            self.stdout.write("\nStopping web, worker and beat ...")
        finally:
            for proc in processes.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 15
            for proc in processes.values():
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    proc.kill()

    def _print_banner(self, addr: str) -> None:
        base = f"http://{addr}"
        lines = [
            "",
            "Loyalty platform is starting (web, worker, beat).",
            f"  Customer portal : {base}/",
            f"  Staff admin     : {base}/admin/",
            f"  API docs        : {base}/api/docs/",
            f"  Health          : {base}/healthz",
            f"  E-mails         : {settings.VAR_DIR / 'mail'}",
            "Demo logins:",
            *[f"  {role:<18}: {user} / {pw}" for role, user, pw in DEMO_LOGINS],
            "Press Ctrl-C to stop all three.",
            "",
        ]
        self.stdout.write("\n".join(lines))
