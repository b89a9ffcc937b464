"""The sheet door of 依档帮扶: a list into a fund that pays archived households
only is refused cell by cell, and a rule an approver may override is passed
with the sheet's 特批理由 column."""
# ruff: noqa: F811  (the archive fixtures are imported by name)

import datetime
from decimal import Decimal

import pytest

from allocations.models import Disbursement, PolicyRule, RuleScope
from tests.conftest import synthetic_id
from tests.test_archive import family, hardship_fund  # noqa: F401
from tests.test_list_import import HEADERS, csv_bytes, upload
from unionfunds.models import Job

pytestmark = pytest.mark.django_db


def row(name, number, amount, reason=""):
    return [name, number, amount, "生活救助", "2022-04-20", "", "", "", "", reason]


def test_a_sheet_into_an_archive_fund_names_each_person_outside_the_archive(alice_client, family, hardship_fund):
    rows = [
        row("王大明", synthetic_id(11), 800),
        row("路人甲", synthetic_id(51), 800),
        row("李秀英", synthetic_id(12), 800),
    ]
    job, _ = upload(alice_client, hardship_fund, csv_bytes(rows, HEADERS), name="名单.csv", assistance_type="living")
    assert [(p["line"], p["column"], p["code"]) for p in job.problems] == [(3, "身份证号", "not_in_archive")]
    assert "依档帮扶" in job.problems[0]["message"]
    assert not Disbursement.objects.exists()


def test_the_override_column_passes_a_rule_an_approver_may_override(
    alice_client, tree, admin_user, family, hardship_fund
):
    PolicyRule.objects.create(
        federation=tree["qinghai"],
        name="生活救助",
        purpose="hardship",
        assistance_type="living",
        scope=RuleScope.HOUSEHOLD,
        cap_amount=Decimal("1000"),
        overridable=True,
        created_by=admin_user,
    )
    rows = [row("王大明", synthetic_id(11), 800), row("李秀英", synthetic_id(12), 800)]
    job, _ = upload(alice_client, hardship_fund, csv_bytes(rows, HEADERS), name="名单.csv", assistance_type="living")
    assert [(p["line"], p["column"], p["code"]) for p in job.problems] == [(3, "金额", "cap_exceeded")]
    assert "200.00" in job.problems[0]["message"]  # the room left
    rows[1][-1] = "医疗支出大，经研究特批"
    job, location = upload(
        alice_client, hardship_fund, csv_bytes(rows, HEADERS), name="名单.csv", assistance_type="living"
    )
    assert (job.state, job.problems) == (Job.State.PREVIEW, [])
    alice_client.post(f"{location}confirm/")
    assert sorted(Disbursement.objects.values_list("policy_override", flat=True)) == ["", "医疗支出大，经研究特批"]
    assert Disbursement.objects.filter(household=family).count() == 2
    assert datetime.date(2022, 4, 20) in set(Disbursement.objects.values_list("date", flat=True))
