"""gunicorn settings for `deploy/start web` (docs/deploy.md).

Workers: WEB_CONCURRENCY if set, else 2 x CPU cores + 1 (gunicorn's rule for sync workers,
which wait on the database most of the time). Each worker holds up to one database connection,
so web workers + worker concurrency + beat must stay below PostgreSQL's max_connections.
"""

import multiprocessing
import os

bind = os.environ.get("BIND", "127.0.0.1:8000")  # the reverse proxy in front connects here
workers = int(os.environ.get("WEB_CONCURRENCY") or 2 * multiprocessing.cpu_count() + 1)
timeout = 30  # seconds; a request taking longer is killed and logged
graceful_timeout = 20
max_requests = 2000  # recycle a worker now and then, with jitter so not all at once
max_requests_jitter = 200
# trust X-Forwarded-* from the proxy on this machine only, or from FORWARDED_ALLOW_IPS
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
accesslog = "-"
errorlog = "-"
