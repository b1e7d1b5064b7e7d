"""gunicorn settings for Vern in production: `gunicorn -c deploy/gunicorn.conf.py app:app`.

Each value can be overridden from the environment (VERN_BIND, VERN_WORKERS, VERN_THREADS)."""

import multiprocessing
import os

bind = os.environ.get("VERN_BIND", "127.0.0.1:8000")
# Threads let a worker wait on the database for one request while serving another; two
# workers per CPU keeps a slow request from holding up the rest.
workers = int(os.environ.get("VERN_WORKERS", 2 * multiprocessing.cpu_count()))
threads = int(os.environ.get("VERN_THREADS", 4))
worker_class = "gthread"
timeout = 60  # the organisation's CSV export streams; nothing else comes near this
graceful_timeout = 30  # SIGTERM: requests in flight finish, new ones go to the other hosts
keepalive = 5
# Recycle workers now and then so memory never creeps (0: never; the benchmarks use that,
# since a recycled worker drops its kept-alive connections mid-measurement).
max_requests = int(os.environ.get("VERN_MAX_REQUESTS", 5000))
max_requests_jitter = 500
accesslog = "-"
errorlog = "-"
# Vern reads X-Forwarded-* only with LMS_TRUSTED_PROXIES set; gunicorn itself needs none.
forwarded_allow_ips = "127.0.0.1"
