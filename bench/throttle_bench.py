"""What a request limit costs and whether it holds, two ways of counting side by side:

    scripts/with-postgres .venv/bin/python bench/throttle_bench.py counted  [--checks 2000]
    scripts/with-postgres .venv/bin/python bench/throttle_bench.py cache    [--checks 2000]

`counted` is the project's (`unionfunds.ratelimit`: one INSERT … ON CONFLICT per
request); `cache` is DRF's SimpleRateThrottle on Django's DatabaseCache, the shared
cache that needs no other server. Each makes `--checks` throttle checks one after
another (the time per check), then eight threads at once make 50 checks each against
a limit of 10 a minute (how many got through: 10 is exact). On a throwaway database.
"""

import argparse
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "unionfunds.settings")
os.environ.setdefault("UNIONFUNDS_TESTING", "1")
CACHE_TABLE = "bench_throttle_cache"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("way", choices=["counted", "cache"])
    parser.add_argument("--checks", type=int, default=2000)
    args = parser.parse_args()

    import django
    from django.conf import settings

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": CACHE_TABLE}}
    django.setup()
    from django.core.management import call_command
    from django.db import connections
    from rest_framework.throttling import SimpleRateThrottle

    from unionfunds import ratelimit

    call_command("migrate", interactive=False, verbosity=0)
    call_command("createcachetable", verbosity=0)

    class CacheThrottle(SimpleRateThrottle):
        rate = "10/minute"

        def get_cache_key(self, request, view):
            return self.key

    run = f"{os.getpid()}-{time.time_ns()}"  # keys of this run only, on a database kept between runs

    def check(key: str) -> bool:
        key = f"{run}-{key}"
        if args.way == "counted":
            return ratelimit.count(ratelimit.key_for("bench", key), 60).hits <= 10
        throttle = CacheThrottle()
        throttle.key = key
        return throttle.allow_request(None, None)

    started = time.perf_counter()
    for n in range(args.checks):
        check(f"one-after-another-{n % 100}")
    each = (time.perf_counter() - started) / args.checks

    allowed = []
    barrier = threading.Barrier(8)

    def client() -> None:
        try:
            barrier.wait(timeout=30)
            allowed.extend(1 for _ in range(50) if check("together"))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    print(f"{args.way} on {engine}: {each * 1e6:.0f} µs a check; 8 clients × 50 at once, limit 10: ", end="")
    print(f"{len(allowed)} let through")
    return 0


if __name__ == "__main__":
    sys.exit(main())
