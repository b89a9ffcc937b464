# ruff: noqa: F811  (the archive fixtures are imported by name)
"""`verify_ledger --totals` proves the archive and the rules held: every
payment from an archive-requiring fund was to a household open on its date,
the running totals are what the payments charged add up to, and no cap or
once-a-year rule was passed without a recorded override."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from allocations import policy, verify
from allocations import services as money
from allocations.models import Disbursement, PolicyRule, PolicyUsage
from beneficiaries import archive
from tests.conftest import synthetic_id
from tests.oracle import codes
from tests.test_archive import DAY, pay

pytestmark = pytest.mark.django_db

from tests.test_archive import family, hardship_fund, living_cap  # noqa: E402, F401  (fixtures)


@pytest.fixture
def paid(alice, bob, family, hardship_fund, living_cap):
    created = pay(hardship_fund, alice, ("王大明", synthetic_id(11), "6000"), ("李秀英", synthetic_id(12), "3000"))
    money.movements_approve(movements=list(created), by=bob)
    return created


def problems() -> list[str]:
    return verify.verify(totals=True).lines()


def test_a_ledger_run_by_the_rules_is_clean(paid, alice, bob):
    pending = pay(paid.fund, alice, ("王大明", synthetic_id(11), "80"), kind="living", date=DAY.replace(month=6))
    money.movements_reject(movements=list(pending), by=bob, reason="重复")
    assert problems() == []


def test_a_payment_taken_out_of_its_household_shows(paid):
    Disbursement.objects.filter(pk=paid.ids[0]).update(household=None)
    found = problems()
    assert any(f"#{paid.ids[0]}" in line and "2022-04-20" in line for line in found), found


def test_a_running_total_changed_behind_the_application_shows(paid):
    PolicyUsage.objects.update(amount=Decimal("100.00"))
    [line] = problems()
    assert "9,000.00 / 2" in line and "100.00 / 2" in line


def test_a_cap_passed_without_an_override_shows(paid, living_cap):
    PolicyRule.objects.filter(pk=living_cap.pk).update(cap_dibao_months=Decimal("10"))  # 8,400.00
    [line] = problems()
    assert "9,000.00" in line and "8,400.00" in line


def test_an_override_with_its_reason_is_no_problem(alice, bob, paid, living_cap):
    with pytest.raises(money.ListRefused):
        pay(
            paid.fund,
            alice,
            ("王大明", synthetic_id(11), "2000"),
            date=DAY.replace(month=7),
            override_reason="大病特批",
        )
    PolicyRule.objects.filter(pk=living_cap.pk).update(overridable=True)
    past = pay(
        paid.fund, alice, ("王大明", synthetic_id(11), "2000"), date=DAY.replace(month=7), override_reason="大病特批"
    )
    money.movements_approve(movements=list(past), by=bob)
    assert Disbursement.objects.get(pk=past.ids[0]).policy_override == "大病特批"
    assert problems() == []


def test_a_rule_that_counted_payments_keeps_its_terms(paid, living_cap, admin_user):
    with pytest.raises(ValidationError) as refused:
        policy.rule_update(rule=living_cap, cap_dibao_months=Decimal("6"), by=admin_user)
    assert codes(refused.value) == {"rule_in_use"}
    policy.rule_update(rule=living_cap, name="生活救助（2022）", active=False, by=admin_user)


def test_a_closing_may_not_reach_back_before_a_standing_payment(paid, family, alice):
    with pytest.raises(ValidationError) as refused:
        archive.archive_close(
            entry=family.entries.get(), reason="out_of_hardship", closed_on=datetime.date(2022, 4, 1), by=alice
        )
    assert codes(refused.value) == {"paid_after_closing"}


def test_the_command_reports_them(paid, capsys):
    PolicyUsage.objects.update(payments=7)
    with pytest.raises(SystemExit):
        call_command("verify_ledger", "--totals")
    assert "7" in capsys.readouterr().out
