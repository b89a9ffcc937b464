"""gunicorn's settings for `gunicorn unionfunds.wsgi`, which reads this file from the
working directory (docs/DEPLOY.md). Everything that differs between machines comes
from the environment:

- GUNICORN_BIND: where to listen, comma-separated; default 127.0.0.1:8000, for a
  reverse proxy on the same machine. Never a public address: the proxy ends TLS.
- WEB_CONCURRENCY: worker processes; default 2 per CPU plus 1 (docs/SCALING.md).
- GUNICORN_TIMEOUT: seconds before a silent worker is killed and replaced; default 60.
- GUNICORN_ACCESS_LOG: the access log file, "-" for standard output (the default).
- FORWARDED_ALLOW_IPS (gunicorn's own): the proxies trusted to say that a request came
  over HTTPS; default 127.0.0.1,::1, i.e. a proxy on the same machine. With a load
  balancer elsewhere, its address. Django itself trusts X-Forwarded-Proto only with
  DJANGO_BEHIND_PROXY=1, and the lockout and throttles then take the client's address
  from the last X-Forwarded-For entry: the proxy must set both headers, and gunicorn
  must be reachable from the proxy only.
"""

import os


def cpus() -> int:
    # The CPUs this process may run on (a container's share), not the host's count.
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


wsgi_app = "unionfunds.wsgi:application"
bind = [address.strip() for address in os.environ.get("GUNICORN_BIND", "127.0.0.1:8000").split(",")]
# Sync workers: a request holds its worker while PostgreSQL works (a national roll-up
# takes about a second at 5 million disbursements), so there are more workers than CPUs.
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * cpus() + 1))
# The slowest page work stays well under this: a list exported in the request is at most
# UNIONFUNDS_EXPORT_INLINE_ROWS (20,000) rows, about 7 s as XLSX; longer ones go to the job worker.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
# Replace each worker after about a thousand requests, so that no slow leak grows for weeks.
max_requests = 1000
max_requests_jitter = 100

accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = "-"
# The path without its query string, and no request headers but the forwarded address
# and the user agent: an API token (the Authorization header) or anything secret that a
# client puts in a query string never reaches the log. Not %(r)s (the request line with
# its query), %(q)s, %(u)s (a Basic-auth username) or %(f)s (a referrer, with its query).
access_log_format = '%(h)s %({x-forwarded-for}i)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'
