from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from treebeard.mp_tree import MP_Node, MP_NodeManager, MP_NodeQuerySet

from unionfunds.permissions import subtree_q


class Level(models.TextChoices):
    NATIONAL = "national", _("National")
    PROVINCE = "province", _("Province")
    CITY = "city", _("City")
    COUNTY = "county", _("County")
    TOWNSHIP = "township", _("Township")
    GRASSROOTS = "grassroots", _("Grassroots")
    INDUSTRY = "industry", _("Industry")


class FederationQuerySet(MP_NodeQuerySet):
    def visible_to(self, user) -> "FederationQuerySet":
        return self.filter(subtree_q(user, "path"))

    def subtree_of(self, federation: "Federation") -> "FederationQuerySet":
        # One indexed range scan on the materialised path, at any depth.
        return self.filter(path__startswith=federation.path)


class FederationManager(MP_NodeManager.from_queryset(FederationQuerySet)):
    def get_queryset(self) -> FederationQuerySet:
        return FederationQuerySet(self.model, using=self._db).order_by("path")

    def get_by_natural_key(self, code: str) -> "Federation":
        return self.get(code=code)


class Federation(MP_Node):
    """A trade-union federation (工会) at any level of the tree.

    The tree is a materialised path (`path`, kept by django-treebeard): the
    federation and everything below it is `path LIKE '<path>%'`, one indexed
    query however deep the tree is. `parent` repeats the last step of the path
    so that lists can show and filter by it without parsing paths.
    """

    code = models.CharField(
        _("code"),
        max_length=32,
        unique=True,
        help_text=_("The administrative division code where there is one."),
    )
    name = models.CharField(_("name"), max_length=100)
    level = models.CharField(_("level"), max_length=16, choices=Level.choices)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
    )

    # No node_order_by: sorted insertion would renumber the paths of every later
    # sibling and its whole subtree; new federations are appended instead.
    objects = FederationManager()

    class Meta:
        verbose_name = _("federation")
        verbose_name_plural = _("federations")
        ordering = ["path"]
        constraints = [
            models.CheckConstraint(condition=Q(level__in=Level.values), name="federation_level_valid"),
            models.CheckConstraint(
                condition=Q(depth=1, parent__isnull=True) | Q(depth__gt=1, parent__isnull=False),
                name="federation_parent_matches_depth",
            ),
        ]
        indexes = [models.Index(fields=["level", "path"], name="federation_level_path")]

    def __str__(self) -> str:
        return self.name

    def natural_key(self) -> tuple[str]:
        return (self.code,)

    def contains(self, other: "Federation") -> bool:
        return other.path.startswith(self.path)


# What the audit trail records of a federation when it is created; renames and
# moves record the name and the parent (`verify_ledger --audit` checks all four).
FEDERATION_AUDITED_FIELDS = ("code", "name", "level", "parent")


class Role(models.TextChoices):
    CLERK = "clerk", _("Clerk")
    APPROVER = "approver", _("Approver")
    AUDITOR = "auditor", _("Auditor")
    ADMIN = "admin", _("Administrator")


class Membership(models.Model):
    """A user's role at one federation; it reaches that federation's whole subtree."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="memberships"
    )
    federation = models.ForeignKey(
        Federation, verbose_name=_("federation"), on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["user", "federation", "role"], name="membership_unique_role"),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.federation} · {self.get_role_display()}"


class Account(models.Model):
    """What the project keeps of a user besides Django's own columns.

    `federation` is where the person belongs: its administrators look after the
    account even while it holds no role (between two jobs, or before a role is
    given again). `must_change_password` is set while the password is one an
    administrator handed over: every page leads to the change-password page, and
    the API refuses the user, until they choose their own.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="account",
    )
    federation = models.ForeignKey(
        Federation,
        verbose_name=_("federation"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("The federation whose administrators look after this account."),
    )
    must_change_password = models.BooleanField(
        _("must change password"),
        default=False,
        help_text=_("The password is a temporary one, to be changed at the next sign-in."),
    )

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")

    def __str__(self) -> str:
        return str(self.user)


APPEND_ONLY = "The audit trail is append-only: an event is never changed or deleted."


class AuditEventQuerySet(models.QuerySet):
    def visible_to(self, user) -> "AuditEventQuerySet":
        return self.filter(subtree_q(user, "federation__path"))

    # An auditor relies on the trail saying what happened; nothing in the
    # application rewrites it, and on PostgreSQL a trigger refuses it to SQL too.
    def update(self, **kwargs):
        raise TypeError(APPEND_ONLY)

    def delete(self):
        raise TypeError(APPEND_ONLY)

    update.queryset_only = True  # type: ignore[attr-defined]
    delete.queryset_only = True  # type: ignore[attr-defined]


class AuditEvent(models.Model):
    """Append-only record of who did what to which record, written by the services
    in the same transaction as the change itself."""

    # The trail names users, federations and content types without database
    # constraints, as django-pghistory's event tables do: Django's PROTECT still
    # refuses to delete anything an event names, and a list of 100,000 payments
    # is spared 300,000 row-by-row key checks at commit, a third of its audit cost.
    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
    )
    action = models.CharField(_("action"), max_length=64)
    # Indexed by audit_event_record, which it leads.
    content_type = models.ForeignKey(
        ContentType, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    object_id = models.PositiveBigIntegerField()
    object_repr = models.CharField(_("record"), max_length=200)
    federation = models.ForeignKey(
        Federation,
        verbose_name=_("federation"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
    )
    changes = models.JSONField(_("changes"), default=dict, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    # The event's place in its author's chain (`unionfunds.trail`).
    seq = models.PositiveBigIntegerField(_("position"), null=True, blank=True)
    hash = models.CharField(_("hash"), max_length=64, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["content_type", "object_id", "at"], name="audit_event_record")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action} {self.object_repr}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise TypeError(APPEND_ONLY)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError(APPEND_ONLY)


class IdempotencyKey(models.Model):
    """The first successful answer to a POST that carried an `Idempotency-Key`.

    The unique constraint is the lock: the row is inserted in the same
    transaction as the write it guards, so a concurrent retry with the same key
    waits on the insert and then finds the stored answer instead of writing again.
    """

    class Door(models.TextChoices):
        # Apart, so that no key a client sends can stand for a form's submission.
        API = "api", _("API (Idempotency-Key)")
        FORM = "form", _("form (submitted once)")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="+"
    )
    door = models.CharField(_("door"), max_length=8, choices=Door.choices, default=Door.API)
    key = models.CharField(_("key"), max_length=255)
    fingerprint = models.CharField(
        _("request fingerprint"), max_length=64, help_text=_("SHA-256 of the method, path and body.")
    )
    status_code = models.PositiveSmallIntegerField(_("status code"), null=True, blank=True)
    response = models.JSONField(_("response"), null=True, blank=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("idempotency key")
        verbose_name_plural = _("idempotency keys")
        constraints = [
            models.UniqueConstraint(fields=["user", "door", "key"], name="idempotency_key_unique_per_user_and_door")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} · {self.key}"


class JobQuerySet(models.QuerySet):
    def of(self, user) -> "JobQuerySet":
        # A job holds an uploaded sheet or an export with personal data: only
        # the person who started it may look at it.
        return self.filter(created_by=user)


class Job(models.Model):
    """Work too long for one request (a big import or export), run by a worker.

    The page that started it polls the row for its state and progress. An
    import stops in `preview` with every problem found, and writes nothing
    until the user confirms; the commit is one transaction, so a failure or a
    killed worker leaves nothing half-written. A job whose worker is gone is
    failed by `unionfunds.jobs.recover` (its heartbeat stopped, its task is not
    waiting in the queue).
    """

    class Kind(models.TextChoices):
        IMPORT = "import", _("Disbursement list import")
        EXPORT = "export", _("Export")
        HOUSEHOLDS = "households", _("Household sheet import")

    class State(models.TextChoices):
        QUEUED = "queued", _("Waiting for a worker")
        CHECKING = "checking", _("Checking")
        PREVIEW = "preview", _("Checked, waiting for confirmation")
        COMMITTING = "committing", _("Writing")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    RUNNING = (State.QUEUED, State.CHECKING, State.COMMITTING)

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.QUEUED)
    title = models.CharField(_("title"), max_length=200)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), on_delete=models.PROTECT, related_name="+"
    )
    federation = models.ForeignKey(Federation, verbose_name=_("federation"), on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    params = models.JSONField(_("parameters"), default=dict, blank=True, encoder=DjangoJSONEncoder)
    upload = models.FileField(_("uploaded file"), upload_to="jobs/uploads/%Y/%m/", blank=True)
    output = models.FileField(_("result file"), upload_to="jobs/exports/%Y/%m/", blank=True)
    rows = models.JSONField(_("rows"), null=True, blank=True, encoder=DjangoJSONEncoder)
    problems = models.JSONField(_("problems"), default=list, blank=True)
    summary = models.JSONField(_("summary"), default=dict, blank=True, encoder=DjangoJSONEncoder)
    progress_done = models.PositiveIntegerField(_("done"), default=0)
    progress_total = models.PositiveIntegerField(_("total"), default=0)
    message = models.TextField(_("message"), blank=True)
    task_id = models.CharField(
        _("task"), max_length=64, blank=True, help_text=_("The background task that runs the job's current step.")
    )
    heartbeat_at = models.DateTimeField(
        _("last sign of life"),
        null=True,
        blank=True,
        help_text=_("When the job was last queued, or when its worker last said it was still at work."),
    )

    objects = JobQuerySet.as_manager()

    class Meta:
        verbose_name = _("job")
        verbose_name_plural = _("jobs")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(progress_done__lte=models.F("progress_total")), name="job_progress_le_total"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} {self.title}"

    @property
    def running(self) -> bool:
        return self.state in self.RUNNING

    @property
    def percent(self) -> int:
        return 100 * self.progress_done // self.progress_total if self.progress_total else 0


class ExportRecordQuerySet(models.QuerySet):
    def visible_to(self, user) -> "ExportRecordQuerySet":
        return self.filter(subtree_q(user, "federation__path"))


class ExportRecord(models.Model):
    """Who exported what, with which filters, how many rows, and whether with
    full ID numbers: auditors and data-protection officers ask exactly this."""

    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.PROTECT, related_name="+"
    )
    federation = models.ForeignKey(Federation, verbose_name=_("federation"), on_delete=models.PROTECT, related_name="+")
    what = models.CharField(_("what"), max_length=32)
    format = models.CharField(_("format"), max_length=8)
    filters = models.JSONField(_("filters"), default=dict, blank=True)
    row_count = models.PositiveIntegerField(_("rows"), default=0)
    full_id_numbers = models.BooleanField(_("full ID numbers"), default=False)
    # The record's place in its author's chain (`unionfunds.trail`).
    seq = models.PositiveBigIntegerField(_("position"), null=True, blank=True)
    hash = models.CharField(_("hash"), max_length=64, blank=True)

    objects = ExportRecordQuerySet.as_manager()

    class Meta:
        verbose_name = _("export record")
        verbose_name_plural = _("export records")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.user} {self.what}.{self.format} ({self.row_count})"


class TrailHead(models.Model):
    """The last place and hash of one author's chain in the audit trail or the
    export log (`unionfunds.trail`): deleting the last rows of a chain shows as
    well as deleting one in the middle."""

    key = models.CharField(max_length=40, unique=True)  # "audit:<user id>", "export:-" for no user
    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"{self.key} #{self.seq}"


class WorkerBeat(models.Model):
    """A job worker's last sign of life (`manage.py worker`), so that a page can
    say when no worker is taking jobs instead of showing "queued" forever."""

    worker_id = models.CharField(max_length=64, unique=True)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    beat_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.host}:{self.pid} {self.beat_at:%Y-%m-%d %H:%M:%S}"


class RateWindow(models.Model):
    """How many requests one client (a token, a signed-in user, an address, a
    username tried at sign-in) has made in its current window: `unionfunds.ratelimit`
    counts them here, in the database every server process shares."""

    key = models.CharField(max_length=80, primary_key=True)
    hits = models.PositiveIntegerField()
    ends_ms = models.BigIntegerField(db_index=True)  # milliseconds since the epoch

    def __str__(self) -> str:
        return f"{self.key}: {self.hits}"
