"""The audit trail is append-only, and `verify_ledger --audit` finds an entry or
a decision the trail does not record."""

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from allocations import services as money
from allocations.models import Disbursement, Status
from tests import test_ledger_chain as chain
from unionfunds.models import AuditEvent

books = chain.books  # every kind of entry, approved, rejected and reversed


@pytest.mark.django_db
def test_an_audit_event_cannot_be_changed_or_deleted_through_the_application(books):
    event = AuditEvent.objects.filter(action="disbursement.created").first()
    before = (event.action, event.object_repr, event.changes, event.user_id)
    event.object_repr = "改过的"
    for attempt in (
        event.save,
        event.delete,
        lambda: AuditEvent.objects.filter(pk=event.pk).update(reason="改"),
        lambda: AuditEvent.objects.filter(pk=event.pk).delete(),
        lambda: AuditEvent.objects.all().delete(),
    ):
        with pytest.raises(TypeError, match="append-only"):
            attempt()
    event = AuditEvent.objects.get(pk=event.pk)
    assert (event.action, event.object_repr, event.changes, event.user_id) == before


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL's; SQLite relies on the ORM")
@pytest.mark.django_db
def test_on_postgresql_sql_cannot_change_or_delete_an_audit_event_either(books):
    event = AuditEvent.objects.filter(action="disbursement.created").first()
    for statement in (
        "UPDATE unionfunds_auditevent SET reason = 'x' WHERE id = %s",
        "DELETE FROM unionfunds_auditevent WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).reason == event.reason


@pytest.mark.django_db
def test_verify_finds_an_entry_and_a_decision_the_trail_does_not_record(books, rich_fund, worker, alice, bob):
    assert "no problems" in chain.verify("--audit")
    # Written and decided behind the application's back, with no audit event.
    sneaked = Disbursement.objects.create(
        fund=rich_fund, beneficiary=worker, assistance_type="medical", amount="1.00", created_by=alice
    )
    honest = money.disbursement_create(
        fund=rich_fund, beneficiary=worker, assistance_type="medical", amount="2.00", confirm_duplicate=True, by=alice
    )
    Disbursement.objects.filter(pk=honest.pk).update(
        status=Status.REJECTED, decided_by=bob, decided_at=timezone.now(), rejection_reason="改"
    )
    printed, _closing = chain.problems("--audit")
    assert f"Disbursement #{sneaked.pk} has no audit record of its entry" in printed
    assert f"Disbursement #{honest.pk} is Rejected, but no audit record says who decided it" in printed
    assert f"#{honest.pk} has no audit record" not in printed
