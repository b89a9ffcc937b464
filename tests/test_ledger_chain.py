"""Tamper evidence: each fund's approved entries form a hash chain, and
`verify_ledger` finds whatever was changed, added or deleted behind the
application's back, by naming the row, with a non-zero exit status."""

import datetime
import importlib
from decimal import Decimal
from io import StringIO
from unittest.mock import patch

import pytest
from django.apps import apps
from django.contrib import admin
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import NotSupportedError, connection

from allocations import ledger
from allocations import services as money
from allocations.lists import ListRow
from allocations.models import (
    Allocation,
    Contribution,
    Disbursement,
    DisbursementTotal,
    Fund,
    LedgerEntry,
    LedgerKind,
    PersonCount,
    Status,
)
from allocations.services import disbursements_create, movements_approve
from beneficiaries import services as people
from beneficiaries.models import Beneficiary, Unit
from tests.conftest import member, synthetic_id
from unionfunds import divisions, exportlog, serialise
from unionfunds.models import AuditEvent, ExportRecord, Federation, Role, TrailHead
from unionfunds.services import federation_move, federation_rename

DAY = datetime.date(2022, 4, 20)


def verify(*args: str) -> str:
    """The report of a clean ledger; fails the test on any problem."""
    out = StringIO()
    call_command("verify_ledger", "--language", "en", *args, stdout=out)
    return out.getvalue()


def problems(*args: str, language: str = "en") -> tuple[str, str]:
    """(the printed problems, the closing line) of a ledger that does not verify:
    exit status 1."""
    out, err = StringIO(), StringIO()
    with pytest.raises(SystemExit) as failed:
        call_command("verify_ledger", "--language", language, *args, stdout=out, stderr=err)
    assert failed.value.code == 1
    return out.getvalue(), err.getvalue()


def sql(query: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(query, params)


def table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


@pytest.fixture
def books(tree, fund, alice, bob, worker):
    """Every kind of entry, approved, rejected and reversed, through the services
    and through bulk approval."""
    grassroots = money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="3000", by=alice)
    money.movement_approve(movement=grassroots, by=bob)
    rejected = money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="10", by=alice)
    money.movement_reject(movement=rejected, by=bob, reason="金额有误")
    money.movement_approve(movement=money.movement_reverse(movement=grassroots, by=alice, reason="下拨错误"), by=bob)
    again = money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount="1200.50", by=alice)
    money.movement_approve(movement=again, by=bob)
    paid = money.disbursement_create(
        fund=fund, beneficiary=worker, assistance_type="living", amount="800", date=DAY, by=alice
    )
    money.movement_approve(movement=paid, by=bob)
    money.movement_approve(movement=money.movement_reverse(movement=paid, by=alice, reason="重复发放"), by=bob)
    donation = money.contribution_create(fund=fund, source="donation", amount="500", by=alice)
    money.movement_approve(movement=donation, by=bob)
    money.movement_approve(movement=money.movement_reverse(movement=donation, by=alice, reason="退回"), by=bob)
    listed = disbursements_create(
        fund=fund,
        rows=[ListRow(name=f"职工{n}", id_number=synthetic_id(10 + n), amount="100.10") for n in range(5)],
        assistance_type="pandemic_subsidy",
        date=DAY,
        by=alice,
    )
    movements_approve(movements=listed, by=bob)
    # Left pending: a payment and a reversal, holding money back.
    money.disbursement_create(fund=fund, beneficiary=worker, assistance_type="medical", amount="66", date=DAY, by=alice)
    money.movement_reverse(movement=listed[0], by=alice, reason="重复")
    fund.refresh_from_db()
    return {"fund": fund, "allocation": again, "listed": listed, "recipient": again.to_fund}


@pytest.mark.django_db
def test_a_clean_ledger_verifies_after_every_kind_of_entry(books):
    report = verify("--totals")
    approved = sum(model.objects.filter(status=Status.APPROVED).count() for model in (Contribution, Disbursement))
    approved += 2 * Allocation.objects.filter(status=Status.APPROVED).count()
    assert f"{Fund.objects.count()} funds, {approved} ledger entries" in report
    assert "no problems" in report
    with_chinese = StringIO()
    call_command("verify_ledger", stdout=with_chinese)
    assert "账本核验通过" in with_chinese.getvalue()


@pytest.mark.django_db
def test_an_allocation_is_chained_out_of_one_fund_and_into_the_other(books):
    allocation, fund, recipient = books["allocation"], books["fund"], books["recipient"]
    rows = LedgerEntry.objects.filter(kind=LedgerKind.ALLOCATION, movement_id=allocation.pk).order_by("amount")
    assert [(row.fund_id, row.amount) for row in rows] == [
        (fund.pk, Decimal("-1200.50")),
        (recipient.pk, Decimal("1200.50")),
    ]
    recipient.refresh_from_db()
    chain = list(LedgerEntry.objects.filter(fund=recipient).order_by("seq"))
    assert [row.seq for row in chain] == [1, 2, 3]  # in, its reversal out, in again
    assert (recipient.ledger_seq, recipient.ledger_hash) == (3, chain[-1].hash)
    # Each hash covers the one before it and the entry as it stands.
    values = Allocation.objects.filter(pk=allocation.pk).values_list(*ledger.FIELDS[LedgerKind.ALLOCATION]).get()
    assert chain[-1].hash == ledger.link(
        chain[-2].hash,
        recipient.pk,
        3,
        LedgerKind.ALLOCATION,
        allocation.pk,
        120050,
        ledger.content_digest(LedgerKind.ALLOCATION, values),
        owner_id=recipient.federation_id,
    )
    assert sum(row.amount for row in chain) == recipient.balance


@pytest.mark.django_db
def test_a_changed_amount_is_reported_with_its_entry_in_chinese(books):
    paid = books["listed"][1]
    sql(f"UPDATE {table(Disbursement)} SET amount = amount - 10000 WHERE id = %s", [paid.pk])
    printed, error = problems(language="zh-hans")
    assert f"资金发放 #{paid.pk}" in printed and "哈希" in printed
    assert "余额" in printed  # the fund's balance no longer matches its entries either
    assert "个问题" in error


@pytest.mark.django_db
def test_an_entry_inserted_as_approved_is_reported(books, alice, bob, worker):
    fund = books["fund"]
    sql(
        f"INSERT INTO {table(Disbursement)} (fund_id, beneficiary_id, assistance_type, amount, date, status, note, "
        "reason, rejection_reason, batch, duplicate_confirmed, created_by_id, created_at, decided_by_id, decided_at, "
        "payee_name, payee_id_number) "
        "VALUES (%s, %s, 'living', 99900, %s, 'approved', '', '', '', '', %s, %s, %s, %s, %s, '', '')",
        [
            fund.pk,
            worker.pk,
            DAY,
            False,
            alice.pk,
            datetime.datetime.now(datetime.UTC),
            bob.pk,
            datetime.datetime.now(datetime.UTC),
        ],
    )
    inserted = Disbursement.objects.order_by("-pk").first()
    printed, error = problems()
    assert f"Disbursement #{inserted.pk} is approved but not in the ledger of fund #{fund.pk}" in printed
    assert f"Fund #{fund.pk} " in printed and "its approved entries add up to" in printed
    assert error.startswith("2 problems")


@pytest.mark.django_db
def test_a_deleted_entry_and_its_ledger_row_leave_a_gap(books):
    fund, paid = books["fund"], books["listed"][2]
    row = LedgerEntry.objects.get(kind=LedgerKind.DISBURSEMENT, movement_id=paid.pk)
    sql(f"DELETE FROM {table(LedgerEntry)} WHERE id = %s", [row.pk])
    sql(f"DELETE FROM {table(Disbursement)} WHERE id = %s", [paid.pk])
    printed, _error = problems()
    assert f"Fund #{fund.pk} " in printed
    assert f"ledger entry {row.seq} is missing (deleted)" in printed
    assert f"Fund #{fund.pk} {fund}: balance {fund.balance:,.2f} yuan, but its approved entries add up to" in printed


@pytest.mark.django_db
def test_deleting_the_last_ledger_row_of_a_fund_shows_at_its_head(books):
    fund = books["fund"]
    last = LedgerEntry.objects.filter(fund=fund).order_by("-seq").first()
    sql(f"DELETE FROM {table(LedgerEntry)} WHERE id = %s", [last.pk])
    printed, _error = problems()
    assert f"its ledger ends at entry {last.seq - 1}, but the fund records {last.seq} entries" in printed
    assert f"Disbursement #{last.movement_id} is approved but not in the ledger of fund #{fund.pk}" in printed


@pytest.mark.django_db
def test_a_changed_balance_is_reported(books):
    fund = books["fund"]
    sql(f"UPDATE {table(Fund)} SET balance = balance + 100000 WHERE id = %s", [fund.pk])
    printed, error = problems()
    expected = fund.balance
    assert f"balance {expected + 1000:,.2f} yuan, but its approved entries add up to {expected:,.2f} yuan" in printed
    assert error.startswith("1 problem ")


@pytest.mark.django_db
def test_a_pending_entry_flipped_to_approved_is_reported(books, bob):
    pending = Disbursement.objects.get(status=Status.PENDING, reverses__isnull=True)
    sql(
        f"UPDATE {table(Disbursement)} SET status = 'approved', decided_by_id = %s, decided_at = %s WHERE id = %s",
        [bob.pk, datetime.datetime.now(datetime.UTC), pending.pk],
    )
    printed, _error = problems()
    assert f"Disbursement #{pending.pk} is approved but not in the ledger" in printed
    assert "yuan reserved, but its pending entries hold" in printed


@pytest.mark.django_db
def test_an_approved_entry_set_back_to_pending_or_a_changed_ledger_row_is_reported(books):
    first, second = books["listed"][3], books["listed"][4]
    sql(
        f"UPDATE {table(Disbursement)} SET status = 'rejected', rejection_reason = 'x' WHERE id = %s",
        [first.pk],
    )
    sql(f"UPDATE {table(LedgerEntry)} SET hash = %s WHERE kind = 3 AND movement_id = %s", ["f" * 64, second.pk])
    printed, _error = problems()
    assert f"disbursement #{first.pk} is no longer approved (now: Rejected)" in printed
    assert f"disbursement #{second.pk} does not match its hash" in printed
    assert "the hash of its last ledger entry (13) is not the one the fund recorded" in printed  # second's row


@pytest.mark.django_db
def test_running_totals_are_compared_only_when_asked(books):
    fund = books["fund"]
    sql(
        f"UPDATE {table(DisbursementTotal)} SET amount = amount + 1 WHERE fund_id = %s AND assistance_type = 'living'",
        [fund.pk],
    )
    assert "no problems" in verify()
    printed, _error = problems("--totals")
    assert "assistance_type=living" in printed and "but the entries give" in printed
    sql(f"UPDATE {table(PersonCount)} SET persons = persons + 1 WHERE federation_id = %s AND own", [fund.federation_id])
    printed, _error = problems("--totals")
    assert "Person count of 城中区总工会 (own funds, 2022): 6, but the entries give 5." in printed
    assert "Person count of 城中区总工会 (own funds, all years): 6, but the entries give 5." in printed


@pytest.mark.django_db
def test_the_check_can_be_limited_to_a_fund_or_a_subtree(books, tree):
    fund, recipient = books["fund"], books["recipient"]
    sql(f"UPDATE {table(Fund)} SET balance = balance + 1 WHERE id = %s", [fund.pk])
    assert "1 funds" in verify("--fund", str(recipient.pk))
    assert "no problems" in verify("--federation", tree["grassroots"].code)
    printed, _error = problems("--federation", tree["xining"].code)
    assert f"Fund #{fund.pk} " in printed
    with pytest.raises(CommandError, match="No federation"):
        call_command("verify_ledger", "--federation", "nowhere", "--language", "en", stdout=StringIO())


@pytest.mark.django_db
def test_a_long_list_of_problems_is_cut_short(books):
    ids = [d.pk for d in books["listed"]]
    sql(f"UPDATE {table(Disbursement)} SET note = 'x' WHERE id IN ({', '.join(map(str, ids))})")
    printed, error = problems("--limit", "2")
    assert printed.count("does not match its hash") == 2
    assert "… and 3 more." in printed
    assert error.startswith("5 problems")


@pytest.mark.django_db
def test_saved_heads_catch_a_chain_rewritten_from_end_to_end(books, alice, bob, tmp_path):
    fund, heads = books["fund"], tmp_path / "heads.csv"
    assert "Heads of 2 funds saved" in verify("--save-heads", str(heads))
    # Later approvals extend the chains: they still pass through the saved heads.
    money.movement_approve(
        movement=money.contribution_create(fund=fund, source="donation", amount="1", by=alice), by=bob
    )
    assert "no problems" in verify("--check-heads", str(heads))
    # Someone who knows the serialisation rewrites a payment and every hash after it.
    paid = books["listed"][1]
    sql(f"UPDATE {table(Disbursement)} SET amount = amount - 1000, note = 'x' WHERE id = %s", [paid.pk])
    sql(f"UPDATE {table(Fund)} SET balance = balance + 1000 WHERE id = %s", [fund.pk])
    rewrite_chain_from(fund, LedgerEntry.objects.get(kind=LedgerKind.DISBURSEMENT, movement_id=paid.pk).seq)
    assert "no problems" in verify()  # the limit of a hash without a key
    printed, error = problems("--check-heads", str(heads), "--save-heads", str(tmp_path / "later.csv"))
    assert "Heads not saved" in error and not (tmp_path / "later.csv").exists()
    saved_seq = next(line for line in heads.read_text().splitlines() if line.startswith(f"{fund.pk},")).split(",")[1]
    assert f"Fund #{fund.pk} {fund}: ledger entry {saved_seq} is not the one in the saved heads" in printed


def rewrite_chain_from(fund: Fund, seq: int) -> None:
    """What a forger with the database and this source code would do."""
    rows = list(LedgerEntry.objects.filter(fund=fund).order_by("seq"))
    prev = rows[seq - 2].hash if seq > 1 else ledger.GENESIS
    for row in rows[seq - 1 :]:
        kind = row.kind
        values = ledger.MODELS[kind].objects.filter(pk=row.movement_id).values_list(*ledger.FIELDS[kind]).get()
        amount = ledger.legs(kind, values)[fund.pk]
        digest = ledger.content_digest(kind, values[: ledger.WIDTH[row.version][kind]])
        prev = ledger.link(
            prev,
            fund.pk,
            row.seq,
            kind,
            row.movement_id,
            amount,
            digest,
            owner_id=fund.federation_id,
            version=row.version,
        )
        sql(f"UPDATE {table(LedgerEntry)} SET hash = %s, amount = %s WHERE id = %s", [prev, amount, row.pk])
    sql(f"UPDATE {table(Fund)} SET ledger_hash = %s WHERE id = %s", [prev, fund.pk])


@pytest.mark.django_db
def test_ledger_rows_cannot_be_changed_or_deleted_through_the_app(books):
    row = LedgerEntry.objects.first()
    for attempt in (
        lambda: row.save(),
        lambda: row.delete(),
        lambda: LedgerEntry.objects.filter(pk=row.pk).update(amount=1),
        lambda: LedgerEntry.objects.filter(pk=row.pk).delete(),
    ):
        with pytest.raises(NotSupportedError):
            attempt()
    assert not admin.site.is_registered(LedgerEntry)
    assert "no problems" in verify()


def test_every_column_of_an_entry_is_hashed():
    # A new column must be added to a new version of the serialisation on purpose.
    for kind, model in ledger.MODELS.items():
        columns = {f.attname for f in model._meta.concrete_fields if not f.primary_key}
        assert set(ledger.FIELDS[kind]) == columns - ledger.NOT_HASHED.get(kind, frozenset()), model


def test_the_serialisation_is_fixed():
    assert ledger.text(Decimal("1000.00")) == ledger.money_text(100000) == "1000.00"
    assert ledger.money_text(-150) == "-1.50"
    when = datetime.datetime(2022, 4, 20, 9, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=8)))
    assert serialise.token(when) == "16:1650418200000000"  # µs since 1970 UTC
    assert [serialise.token(v) for v in (None, "", False, 12, "城中区")] == ["0:", "0:", "1:0", "2:12", "3:城中区"]
    # Worked out independently (printf ... | sha256sum), so that a change to the
    # serialisation cannot pass unnoticed: it would break every existing chain.
    contribution = [5, "own_funds", "", Decimal("1000.00"), DAY, "approved", "", None, "", 7, when, 8, when, ""]
    assert ledger.content_digest(LedgerKind.CONTRIBUTION, contribution) == (
        "d15a3998d4e0bd23d1cacd82548d59ed85f495ae6de897863ac6aa151f296e87"
    )
    assert ledger.link(ledger.GENESIS, 1, 1, 3, 1, -100, "a" * 64, version=1) == (
        "2d440416b27411cc17471167efc6bd083830d211b90ba31006f50ec795062476"
    )
    assert ledger.link(ledger.GENESIS, 1, 1, 3, 1, -100, "a" * 64, owner_id=9) == (
        "1a0f18ee2b9dd2b50cf90ff5a68b9020cf18b899e3c124fe5dfca494358e7356"
    )


@pytest.mark.django_db
def test_entries_approved_before_the_chain_existed_are_chained_by_the_migration(books):
    sql(f"DELETE FROM {table(LedgerEntry)}")
    sql(f"UPDATE {table(Fund)} SET ledger_seq = 0, ledger_hash = %s", [ledger.GENESIS])
    assert "is approved but not in the ledger" in problems()[0]
    migration = importlib.import_module("allocations.migrations.0005_ledger_hash_chain")

    class Editor:
        connection = connection

    migration.chain_existing_entries(apps, Editor())
    assert "no problems" in verify("--totals")


@pytest.mark.django_db
def test_the_demo_data_verifies_clean():
    call_command("load_divisions", stdout=StringIO())
    call_command("load_demo", stdout=StringIO())
    report = verify("--totals")
    assert "no problems" in report and LedgerEntry.objects.count() > 500


@pytest.mark.django_db(transaction=True)
def test_concurrent_approvals_leave_every_chain_whole(tree, fund, alice, bob, worker):
    """Approvals in the same funds at once, one by one and in bulk: each waits for
    the fund's lock it already takes, so every chain stays in one piece."""
    from tests.test_race import at_once

    money.movement_approve(
        movement=money.contribution_create(fund=fund, source="donation", amount="100000", by=alice), by=bob
    )
    singles = [
        money.allocation_create(from_fund=fund, to_federation=tree["grassroots"], amount=f"{10 + n}", by=alice)
        for n in range(4)
    ] + [
        money.disbursement_create(
            fund=fund,
            beneficiary=worker,
            assistance_type="living",
            amount="5",
            date=DAY + datetime.timedelta(days=31 * n),
            by=alice,
        )
        for n in range(4)
    ]
    listed = disbursements_create(
        fund=fund,
        rows=[ListRow(name=f"职工{n}", id_number=synthetic_id(20 + n), amount="1") for n in range(50)],
        assistance_type="living",
        date=DAY,
        by=alice,
    )
    jobs = [lambda entry=entry: money.movement_approve(movement=entry, by=bob) for entry in singles]
    jobs.append(lambda: movements_approve(movements=listed, by=bob))
    at_once(jobs)
    fund.refresh_from_db()
    assert fund.ledger_seq == 2 + len(singles) + len(listed)
    assert "no problems" in verify("--totals")


ON_POSTGRES = connection.vendor == "postgresql"


@pytest.mark.skipif(not ON_POSTGRES, reason="build_national_dataset needs PostgreSQL")
@pytest.mark.postgres
@pytest.mark.django_db
def test_the_national_dataset_is_chained_as_it_is_loaded():
    from tests.test_national_dataset import build

    build("--disbursements", "2000")
    assert "no problems" in verify("--totals")
    build("--disbursements", "3000")  # a top-up continues each chain
    report = verify("--totals")
    assert "no problems" in report
    approved = sum(model.objects.filter(status=Status.APPROVED).count() for model in (Contribution, Disbursement))
    approved += 2 * Allocation.objects.filter(status=Status.APPROVED).count()
    assert LedgerEntry.objects.count() == approved
    # Inflows come first in a paying fund's chain: it never goes below zero on the way.
    paying = Disbursement.objects.order_by("pk").first().fund
    running, lowest = Decimal("0.00"), Decimal("0.00")
    for amount in LedgerEntry.objects.filter(fund=paying).order_by("seq").values_list("amount", flat=True):
        running += amount
        lowest = min(lowest, running)
    assert lowest == 0 and running == paying.balance
    payment = Disbursement.objects.filter(reverses__isnull=True).order_by("-pk").first()
    sql(f"UPDATE {table(Disbursement)} SET beneficiary_id = beneficiary_id + 1 WHERE id = %s", [payment.pk])
    assert f"disbursement #{payment.pk} does not match its hash" in problems()[0]
    build("--disbursements", "500", "--reset")
    assert "no problems" in verify()


# Who was paid, and whose fund it was -------------------------------------------------


@pytest.mark.django_db
def test_a_payment_keeps_the_name_and_id_number_it_was_paid_to(books, worker, hospital, fund, alice, bob):
    listed = books["listed"][1]
    assert (listed.payee_name, listed.payee_id_number) == ("职工1", synthetic_id(11))
    to_unit = money.disbursement_create(fund=fund, unit=hospital, assistance_type="medical", amount="5", by=alice)
    assert (to_unit.payee_name, to_unit.payee_id_number) == ("城中区人民医院", "")
    to_worker = money.disbursement_create(fund=fund, beneficiary=worker, assistance_type="living", amount="5", by=alice)
    money.movement_approve(movement=to_worker, by=bob)
    # A correction of the person's record later does not rewrite what was paid.
    people.beneficiary_update(beneficiary=worker, name="张叁", by=alice)
    to_worker.refresh_from_db()
    assert (to_worker.payee_name, to_worker.payee_id_number) == ("张三", synthetic_id(1))
    assert "no problems" in verify("--audit")


@pytest.mark.django_db
def test_the_name_paid_to_is_covered_by_the_chain(books):
    paid = books["listed"][1]
    sql(f"UPDATE {table(Disbursement)} SET payee_name = '李四' WHERE id = %s", [paid.pk])
    printed, _error = problems()
    assert f"disbursement #{paid.pk} does not match its hash" in printed


@pytest.mark.django_db
def test_a_fund_moved_to_another_federation_is_reported(books, tree):
    fund = books["fund"]
    sql(f"UPDATE {table(Fund)} SET federation_id = %s WHERE id = %s", [tree["haidong"].pk, fund.pk])
    printed, _error = problems()
    assert f"Fund #{fund.pk} " in printed and "does not match its hash" in printed


@pytest.mark.django_db
def test_a_person_whose_id_number_changes_behind_their_payments_is_reported(books):
    paid = books["listed"][1]
    sql(f"UPDATE {table(Beneficiary)} SET id_number = %s WHERE id = %s", [synthetic_id(99), paid.beneficiary_id])
    printed, _error = problems()
    assert f"disbursement #{paid.pk} was paid to ID number {synthetic_id(11)[:4]}" in printed
    assert synthetic_id(11) not in printed  # the report is read by more people than may see it


@pytest.mark.django_db
def test_a_person_renamed_outside_the_application_is_found_by_the_audit_check(books, worker):
    assert "no problems" in verify("--audit")
    sql(
        f"UPDATE {table(Beneficiary)} SET name = '王五', federation_id = %s WHERE id = %s",
        [worker.federation.parent_id, worker.pk],
    )
    assert "no problems" in verify()  # the payments still say whom they paid
    printed, error = problems("--audit")
    assert f"Beneficiary #{worker.pk}: name is not what the audit trail last recorded" in printed
    assert f"Beneficiary #{worker.pk}: home federation is not what" in printed
    assert error.startswith("2 problems")


@pytest.mark.django_db
def test_federations_renamed_moved_or_relevelled_by_sql_are_found_by_the_audit_check(books, tree):
    admin_user = member("fadmin", tree["nation"], Role.ADMIN)
    federation_rename(federation=tree["chengzhong"], name="城中区总工会（新）", by=admin_user)
    federation_move(federation=tree["chengdong"], new_parent=tree["haidong"], by=admin_user)
    assert "no problems" in verify("--audit")  # changes through the application are recorded
    sql(f"UPDATE {table(Federation)} SET name = '别的工会' WHERE id = %s", [tree["xining"].pk])
    sql(f"UPDATE {table(Federation)} SET parent_id = %s WHERE id = %s", [tree["xining"].pk, tree["chengdong"].pk])
    sql(f"UPDATE {table(Federation)} SET level = 'township', code = 'X1' WHERE id = %s", [tree["grassroots"].pk])
    assert "no problems" in verify()  # the money is as it was
    printed, error = problems("--audit")
    assert f"Federation #{tree['xining'].pk}: name is not what the audit trail last recorded" in printed
    assert f"Federation #{tree['chengdong'].pk}: parent is not what" in printed
    assert f"Federation #{tree['grassroots'].pk}: level is not what" in printed
    assert f"Federation #{tree['grassroots'].pk}: code is not what" in printed
    assert error.startswith("4 problems")


@pytest.mark.django_db
def test_a_unit_renamed_or_moved_by_sql_is_found_by_the_audit_check(books, hospital, tree):
    assert "no problems" in verify("--audit")
    sql(
        f"UPDATE {table(Unit)} SET name = '别的医院', federation_id = %s WHERE id = %s",
        [tree["xining"].pk, hospital.pk],
    )
    printed, error = problems("--audit")
    assert f"Unit #{hospital.pk}: name is not what the audit trail last recorded" in printed
    assert f"Unit #{hospital.pk}: federation is not what" in printed
    assert error.startswith("2 problems")


@pytest.mark.django_db
def test_the_division_tree_is_recorded_as_it_is_loaded(tree):
    created = divisions.load_tree(divisions.read_divisions(divisions.FIXTURES))
    assert created > 3000
    assert AuditEvent.objects.filter(action="federation.created").count() == Federation.objects.count()
    assert "no problems" in verify("--audit")
    county = Federation.objects.get(code="630121")
    sql(f"UPDATE {table(Federation)} SET name = '大通县总工会X' WHERE id = %s", [county.pk])
    printed, _error = problems("--audit")
    assert f"Federation #{county.pk}: name is not what" in printed


@pytest.mark.django_db
def test_federations_loaded_before_the_trail_covered_them_are_recorded_by_the_migration(tree, books):
    loaded = divisions.read_divisions(divisions.FIXTURES)[:40]
    with patch.object(divisions.audit, "log_many"):  # a tree loaded by the code of before
        divisions.load_tree(loaded)
    printed, _error = problems("--audit")
    assert "is not what the audit trail last recorded" in printed
    importlib.import_module("unionfunds.migrations.0011_record_federations").record_federations(
        apps, connection.schema_editor()
    )
    assert "no problems" in verify("--audit")
    assert AuditEvent.objects.filter(action="federation.created").count() == Federation.objects.count()


@pytest.mark.django_db
def test_existing_payments_take_their_payee_from_the_person_or_unit(books, hospital, fund, alice):
    to_unit = money.disbursement_create(fund=fund, unit=hospital, assistance_type="medical", amount="5", by=alice)
    sql(f"UPDATE {table(Disbursement)} SET payee_name = '', payee_id_number = ''")
    migration = importlib.import_module("allocations.migrations.0007_payee_as_paid")
    migration.copy_payees(apps, None)
    listed = Disbursement.objects.get(pk=books["listed"][2].pk)
    assert (listed.payee_name, listed.payee_id_number) == ("职工2", synthetic_id(12))
    assert Disbursement.objects.get(pk=to_unit.pk).payee_name == "城中区人民医院"


# The audit trail and the export log are chains too ------------------------------------


def delete_rows(model, where: str, params=()) -> None:
    """A DELETE as someone with the database would run it (past the trail's trigger)."""
    name = table(model)
    postgres = connection.vendor == "postgresql"
    if postgres and model is AuditEvent:
        sql(f"ALTER TABLE {name} DISABLE TRIGGER unionfunds_audit_append_only")
    sql(f"DELETE FROM {name} WHERE {where}", params)
    if postgres and model is AuditEvent:
        sql(f"ALTER TABLE {name} ENABLE TRIGGER unionfunds_audit_append_only")


@pytest.mark.django_db
def test_an_audit_event_deleted_from_the_middle_or_the_end_is_reported(books, alice):
    shown = Beneficiary.objects.first()
    people.id_numbers_shown(beneficiaries=[shown], by=alice)  # no entry or person accounts for this one
    assert "no problems" in verify("--audit")
    viewed = AuditEvent.objects.get(action="beneficiary.id_number_shown")
    delete_rows(AuditEvent, "id = %s", [viewed.pk])
    printed, _error = problems("--audit")
    assert f"Audit trail of alice: the chain ends at entry {viewed.seq - 1}, not where its head says" in printed
    first = AuditEvent.objects.filter(user=alice).order_by("seq").first()
    delete_rows(AuditEvent, "id = %s", [first.pk])
    printed, _error = problems("--audit")
    assert "Audit trail of alice: entry 1 is missing (deleted)" in printed


@pytest.mark.django_db
def test_an_export_record_deleted_or_changed_is_reported(books, alice):
    for rows in (10, 20):
        exportlog.record(user=alice, what="disbursements", format="xlsx", query={}, rows=rows, full_ids=True)
    assert "no problems" in verify("--audit")
    later = ExportRecord.objects.get(row_count=20)
    sql(f"UPDATE {table(ExportRecord)} SET full_id_numbers = %s WHERE id = %s", [False, later.pk])
    printed, _error = problems("--audit")
    assert f"Export log of alice: entry 2 (record #{later.pk}) does not match its hash" in printed
    delete_rows(ExportRecord, "id = %s", [later.pk])
    printed, _error = problems("--audit")
    assert "Export log of alice: the chain ends at entry 1, not where its head says" in printed


@pytest.mark.django_db
def test_trails_written_before_they_were_chained_are_chained_by_the_migration(books, alice):
    exportlog.record(user=alice, what="disbursements", format="csv", query={}, rows=3, full_ids=False)
    delete_rows(TrailHead, "1 = 1")
    for model in (AuditEvent, ExportRecord):
        if connection.vendor == "postgresql" and model is AuditEvent:
            sql(f"ALTER TABLE {table(model)} DISABLE TRIGGER unionfunds_audit_append_only")
        sql(f"UPDATE {table(model)} SET seq = NULL, hash = ''")
        if connection.vendor == "postgresql" and model is AuditEvent:
            sql(f"ALTER TABLE {table(model)} ENABLE TRIGGER unionfunds_audit_append_only")
    assert "is in no chain" in problems("--audit")[0]
    migration = importlib.import_module("unionfunds.migrations.0008_chained_trails")

    class Editor:
        connection = connection

        @staticmethod
        def quote_name(name):
            return connection.ops.quote_name(name)

        @staticmethod
        def execute(statement):
            sql(statement)

    migration.chain_what_was_written(apps, Editor())
    assert "no problems" in verify("--audit")
