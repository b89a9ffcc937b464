"""The archive's roll-up (档案汇总): per child subtree, the households in the
archive at the end of a year, those admitted, closed out of hardship and fallen
back (reopened) in it, and the share of archived households helped.

Read from the approved changes, which are the entries' history: an entry is
in the archive on a day if its last approved filing, closing or reopening on
or before that day opened it. So a year's figures stay what they were however
the entries changed afterwards, and they add up over the children like the
money figures (a household is filed by one federation). A household counts as
helped if a payment to it stood approved in the period (not reversed).
"""

import datetime
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Exists, OuterRef, Q, Subquery
from django.utils import timezone

from allocations.models import Disbursement, Status
from allocations.rollups import OWN, _by_scope
from beneficiaries.archive_models import ArchiveChange, ArchiveEntry, ChangeKind, ChangeStatus, CloseReason
from unionfunds.models import Federation

STATE_CHANGES = (ChangeKind.OPEN, ChangeKind.REOPEN, ChangeKind.CLOSE)


@dataclass
class ArchiveFigures:
    in_archive: int = 0
    filed: int = 0
    closed_out: int = 0
    relapsed: int = 0
    helped: int = 0

    @property
    def share_helped(self) -> Decimal | None:
        """Helped households over households in the archive, to the per mille."""
        if not self.in_archive:
            return None
        return (Decimal(self.helped) / Decimal(self.in_archive)).quantize(Decimal("0.001"))

    def add(self, other: "ArchiveFigures") -> None:
        for name in ("in_archive", "filed", "closed_out", "relapsed", "helped"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class ArchiveRollup:
    federation: Federation
    year: int | None
    until: datetime.date
    total: ArchiveFigures
    own: ArchiveFigures
    children: list[tuple[Federation, ArchiveFigures]]


def period(year: int | None, today: datetime.date | None = None) -> tuple[datetime.date | None, datetime.date]:
    """The days a year's figures cover: the calendar year, up to today if it is
    this one; all time up to today without a year."""
    today = today or timezone.localdate()
    if year is None:
        return None, today
    return datetime.date(year, 1, 1), min(datetime.date(year, 12, 31), today)


def archive_rollup(
    federation: Federation, year: int | None = None, *, today: datetime.date | None = None
) -> ArchiveRollup:
    path = federation.path
    child_length = len(path) + Federation.steplen
    children = list(Federation.objects.filter(parent=federation).order_by("path"))
    start, end = period(year, today)
    scopes: defaultdict[str, ArchiveFigures] = defaultdict(ArchiveFigures)

    last_state = (
        ArchiveChange.objects.filter(
            entry=OuterRef("pk"), status=ChangeStatus.APPROVED, kind__in=STATE_CHANGES, effective_on__lte=end
        )
        .order_by("-effective_on", "-pk")
        .values("kind")[:1]
    )
    paid = Disbursement.objects.filter(
        household=OuterRef("household_id"), status=Status.APPROVED, reverses__isnull=True, date__lte=end
    ).exclude(reversals__status=Status.APPROVED)
    if start is not None:
        paid = paid.filter(date__gte=start)
    standing = (
        ArchiveEntry.objects.filter(federation__path__startswith=path)
        .annotate(state=Subquery(last_state), helped=Exists(paid))
        .filter(state__in=(ChangeKind.OPEN, ChangeKind.REOPEN))
    )
    for row in (
        _by_scope(standing, "federation__path", path, child_length)
        .values("scope")
        .annotate(households=Count("pk"), helped_households=Count("pk", filter=Q(helped=True)))
    ):
        scopes[row["scope"]].in_archive = row["households"]
        scopes[row["scope"]].helped = row["helped_households"]

    events = ArchiveChange.objects.filter(
        entry__federation__path__startswith=path, status=ChangeStatus.APPROVED, effective_on__lte=end
    )
    if start is not None:
        events = events.filter(effective_on__gte=start)
    for row in (
        _by_scope(events, "entry__federation__path", path, child_length)
        .values("scope")
        .annotate(
            filed=Count("pk", filter=Q(kind=ChangeKind.OPEN)),
            closed_out=Count("pk", filter=Q(kind=ChangeKind.CLOSE, close_reason=CloseReason.OUT_OF_HARDSHIP)),
            relapsed=Count("pk", filter=Q(kind=ChangeKind.REOPEN)),
        )
    ):
        figures = scopes[row["scope"]]
        figures.filed, figures.closed_out, figures.relapsed = row["filed"], row["closed_out"], row["relapsed"]

    total = ArchiveFigures()
    for scope in [OWN, *(child.path for child in children)]:
        total.add(scopes[scope])
    return ArchiveRollup(
        federation=federation,
        year=year,
        until=end,
        total=total,
        own=scopes[OWN],
        children=[(child, scopes[child.path]) for child in children],
    )
