"""ID numbers and phones stay masked wherever they are written down: the audit
trail stores them masked (old events were masked by a migration), and the
admin's pages show nothing of a person that the person's own page would not
show without the logged "show in full"."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from allocations import services as money
from beneficiaries import services as people
from beneficiaries.models import Beneficiary, mask_phone
from tests.conftest import member, synthetic_id
from unionfunds.models import AuditEvent, Role

PHONE = "13812345678"


@pytest.fixture
def person(tree, alice) -> Beneficiary:
    return people.beneficiary_register(
        name="李四", id_number=synthetic_id(7), phone=PHONE, federation=tree["chengzhong"], by=alice
    )


@pytest.fixture
def county_admin(tree):
    user = member("olga", tree["chengzhong"], Role.ADMIN, Role.CLERK)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


@pytest.mark.django_db
def test_the_registration_is_audited_with_the_numbers_masked(person):
    event = AuditEvent.objects.get(action="beneficiary.registered", object_id=person.pk)
    assert event.changes["id_number"] == {"before": None, "after": person.masked_id_number}
    assert event.changes["phone"] == {"before": None, "after": "138****5678"}
    assert person.id_number not in event.object_repr


@pytest.mark.django_db
def test_the_admin_shows_a_person_and_their_audit_trail_masked(client, person, county_admin):
    """A clerk may see the full numbers on the person's page, but only by asking
    (which is logged): the admin, which logs nothing, shows them masked."""
    client.force_login(county_admin)
    event = AuditEvent.objects.get(action="beneficiary.registered", object_id=person.pk)
    pages = [
        f"/admin/beneficiaries/beneficiary/{person.pk}/change/",
        "/admin/beneficiaries/beneficiary/",
        "/admin/unionfunds/auditevent/",
        f"/admin/unionfunds/auditevent/{event.pk}/change/",
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        page = response.content.decode()
        assert person.id_number not in page, url
        assert PHONE not in page, url
    person_page = client.get(pages[0]).content.decode()
    assert person.masked_id_number in person_page and mask_phone(PHONE) in person_page
    assert "138****5678" in client.get(pages[3]).content.decode()


@pytest.mark.django_db
def test_the_admin_shows_the_id_number_a_payment_was_paid_to_masked(client, person, fund, alice, tree):
    paid = money.disbursement_create(fund=fund, beneficiary=person, assistance_type="living", amount="10", by=alice)
    assert paid.payee_id_number == person.id_number
    province_admin = member("pat", tree["qinghai"], Role.ADMIN)
    province_admin.is_staff = True
    province_admin.save(update_fields=["is_staff"])
    client.force_login(province_admin)
    response = client.get(f"/admin/allocations/disbursement/{paid.pk}/change/")
    assert response.status_code == 200
    page = response.content.decode()
    assert person.id_number not in page
    assert person.masked_id_number in page and "李四" in page


@pytest.mark.django_db(transaction=True)
def test_the_migration_masks_the_numbers_of_events_written_before_masking(tree, alice):
    full_id, old_phone = synthetic_id(9), "13987654321"
    person = people.beneficiary_register(name="王五", id_number=full_id, federation=tree["chengzhong"], by=alice)
    executor = MigrationExecutor(connection)
    executor.migrate([("beneficiaries", "0002_seed_categories")])
    # An event as registrations wrote them before: numbers in full, changes in
    # both shapes (created and updated), one without either number.
    unmasked = {
        "id_number": {"before": None, "after": full_id},
        "phone": {"before": "", "after": old_phone},
        "name": {"before": None, "after": "王五"},
    }
    old = AuditEvent.objects.create(
        action="beneficiary.updated", object_id=person.pk, content_type_id=event_type(), changes=unmasked
    )
    untouched = AuditEvent.objects.create(
        action="fund.created", object_id=1, content_type_id=event_type(), changes={"name": {"after": "x"}}
    )
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    old = AuditEvent.objects.get(pk=old.pk)
    assert old.changes == {
        "id_number": {"before": None, "after": person.masked_id_number},
        "phone": {"before": "", "after": "139****4321"},
        "name": {"before": None, "after": "王五"},
    }
    assert AuditEvent.objects.get(pk=untouched.pk).changes == {"name": {"after": "x"}}
    assert full_id not in str(list(AuditEvent.objects.values_list("changes", flat=True)))
    if connection.vendor == "postgresql":  # the trail is append-only again afterwards
        with pytest.raises(Exception, match="append-only"), connection.cursor() as cursor:
            cursor.execute("UPDATE unionfunds_auditevent SET reason = 'x' WHERE id = %s", [old.pk])


def event_type() -> int:
    from django.contrib.contenttypes.models import ContentType

    return ContentType.objects.get_for_model(Beneficiary).pk
