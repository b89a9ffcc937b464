"""Delete old notices: `manage.py prune_notifications [--days 180]`, from cron.

A notice points at an entry or a list; it is not the record of anything. What it
said (who entered or decided what, and why) stays in the entry's history and the
audit trail for good, and what still waits stays on the 审批 page, so notices older
than half a year are deleted, read or not.
"""

import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from allocations.models import Notification

KEPT_DAYS = 180


class Command(BaseCommand):
    help = f"Delete notifications older than --days days (default {KEPT_DAYS}), read or not."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=KEPT_DAYS, help="Keep the notices of this many days")

    def handle(self, *args, days: int, **options):
        if days < 1:
            raise CommandError("--days must be 1 or more.")
        before = timezone.now() - datetime.timedelta(days=days)
        deleted, _ = Notification.objects.filter(created_at__lt=before).delete()
        self.stdout.write(f"{deleted} notifications older than {days} days deleted.")
