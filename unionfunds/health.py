"""`/healthz` for load balancers and monitoring: is this process able to serve,
with its database? And is some job worker alive? No login, no data in the answer."""

from django.db import connection
from django.db.utils import DatabaseError
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from unionfunds.worker import workers_alive


@never_cache
def healthz(request):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return JsonResponse({"status": "unavailable", "database": "unreachable"}, status=503)
    # A missing worker does not take this web process out of service: it is
    # reported for monitoring, and the job pages tell the clerk.
    return JsonResponse({"status": "ok", "database": "ok", "workers": "ok" if workers_alive() else "none"})
