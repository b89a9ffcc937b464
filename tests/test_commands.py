"""Set-up commands: the real federation tree, users, tokens and the demo data."""

import os
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.http import HttpRequest
from rest_framework.authtoken.models import Token

from allocations.models import Contribution, Disbursement, Fund, Notification, Status
from beneficiaries import idnumber
from beneficiaries.models import Beneficiary
from unionfunds.checks import translations_compiled
from unionfunds.models import Federation, Membership
from unionfunds.money import money_sum


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def divisions(db):
    run("load_divisions")


@pytest.mark.django_db
def test_the_whole_country_loads_once(divisions):
    # 31 provinces, 342 cities less 9 statistical groupings, 2,978 counties, the root.
    assert Federation.objects.count() == 1 + 31 + 333 + 2978
    assert "already loaded" in run("load_divisions")
    assert Federation.objects.count() == 3343
    assert Federation.objects.find_problems() == ([], [], [], [], [])


@pytest.mark.django_db
def test_federations_are_named_and_nested_as_unions_are(divisions):
    chengzhong = Federation.objects.get(code="630103")
    assert (chengzhong.name, chengzhong.level) == ("城中区总工会", "county")
    assert chengzhong.parent.name == "西宁市总工会"
    assert chengzhong.parent.parent.name == "青海省总工会"
    assert chengzhong.parent.parent.parent.name == "中华全国总工会"
    # Municipalities have no 市辖区 federation: their districts hang under the province.
    assert Federation.objects.get(code="110105").parent.code == "11"
    assert not Federation.objects.filter(name="市辖区总工会").exists()
    qinghai = Federation.objects.get(code="63")
    assert Federation.objects.subtree_of(qinghai).filter(level="county").count() == 45
    assert qinghai.numchild == 8


@pytest.mark.django_db
def test_add_member_creates_the_user_and_grants_the_role(divisions, client):
    out = run("add_member", "lin", "630103", "clerk", "--password", "s3cret-pass")
    assert "lin is clerk of 城中区总工会" in out
    membership = Membership.objects.get(user__username="lin")
    assert (membership.federation.code, membership.role) == ("630103", "clerk")
    # django-axes needs the request to count failures per client address.
    assert client.login(request=HttpRequest(), username="lin", password="s3cret-pass")
    with pytest.raises(CommandError, match="No federation"):
        run("add_member", "lin", "999999", "clerk")


@pytest.mark.django_db
def test_issue_token_prints_a_working_token_and_can_renew_it(divisions, client):
    run("add_member", "api", "63", "auditor")
    key = run("issue_token", "api").strip()
    assert Token.objects.get(user__username="api").key == key
    assert run("issue_token", "api").strip() == key
    renewed = run("issue_token", "api", "--renew").strip()
    assert renewed != key and not Token.objects.filter(key=key).exists()
    with pytest.raises(CommandError):
        run("issue_token", "nobody")


@pytest.fixture
def demo(divisions):
    run("load_demo")


@pytest.mark.django_db
def test_the_demo_leaves_unread_only_the_notices_of_what_is_still_open(demo):
    unread = Notification.objects.unread()
    assert set(unread.values_list("verb", flat=True)) == {"waiting", "rejected"}
    waiting = unread.filter(verb="waiting", recipient__username="county-approver")
    assert waiting.count() == 3  # what the 审批 menu counts for her: a list, an allocation, a payment
    assert Notification.objects.filter(verb="approved").exists()


@pytest.mark.django_db
def test_demo_reproduces_qinghai_2022_by_level(demo):
    qinghai = Federation.objects.get(code="63")
    raised = Contribution.objects.filter(
        status=Status.APPROVED,
        fund__federation__path__startswith=qinghai.path,
        fund__fiscal_year=2022,
        fund__purpose="pandemic",  # its hardship and education funds are the archive's
    )
    assert raised.aggregate(total=money_sum("amount"))["total"] == Decimal("8040000.00")
    by_level = {
        level: raised.filter(fund__federation__level=level).aggregate(total=money_sum("amount"))["total"]
        for level in ("province", "city", "grassroots")
    }
    assert by_level == {
        "province": Decimal("2600000.00"),
        "city": Decimal("3610000.00"),
        "grassroots": Decimal("1830000.00"),
    }


@pytest.mark.django_db
def test_demo_money_adds_up_and_leaves_work_to_do(demo):
    contributed = Contribution.objects.filter(status=Status.APPROVED, reverses=None).aggregate(t=money_sum("amount"))
    disbursed = Disbursement.objects.filter(status=Status.APPROVED, reverses=None).aggregate(t=money_sum("amount"))
    held = Fund.objects.aggregate(t=money_sum("balance"))
    assert held["t"] + disbursed["t"] == contributed["t"]
    assert Disbursement.objects.filter(status=Status.PENDING).count() >= 20
    assert Disbursement.objects.filter(status=Status.PENDING, reverses__isnull=False).count() == 1
    shandong = Disbursement.objects.filter(fund__federation__code="370102-G001", status=Status.APPROVED)
    assert set(shandong.values_list("amount", flat=True)) == {Decimal("1000.00")}
    assert shandong.count() == 200


@pytest.mark.django_db
def test_demo_people_have_valid_synthetic_ids_and_load_once(demo):
    for number in Beneficiary.objects.values_list("id_number", flat=True):
        assert idnumber.parse(number).number == number
    count = Beneficiary.objects.count()
    assert "already loaded" in run("load_demo")
    assert Beneficiary.objects.count() == count
    accounts = run("load_demo", "--print-accounts")
    assert "password" in accounts and "county-approver" in accounts


@pytest.mark.django_db
def test_printing_the_demo_accounts_before_loading_them_says_so_and_loads_nothing(divisions):
    with pytest.raises(CommandError, match="not loaded"):
        run("load_demo", "--print-accounts")
    assert not Beneficiary.objects.exists() and not Fund.objects.exists()


def test_a_catalogue_not_compiled_or_older_than_its_source_is_reported(tmp_path, settings):
    messages = tmp_path / "zh_Hans" / "LC_MESSAGES"
    messages.mkdir(parents=True)
    source = messages / "django.po"
    source.write_text('msgid ""\nmsgstr ""\n')
    settings.LOCALE_PATHS = [tmp_path]
    assert [warning.id for warning in translations_compiled()] == ["unionfunds.W001"]
    compiled = messages / "django.mo"
    compiled.write_bytes(b"")
    os.utime(source, (1_000_000_000, 1_000_000_000))
    assert translations_compiled() == []
    os.utime(source, None)
    os.utime(compiled, (1_000_000_000, 1_000_000_000))
    assert "older than django.po" in translations_compiled()[0].msg


def test_the_project_catalogue_is_compiled_as_make_venv_leaves_it():
    assert translations_compiled() == []
