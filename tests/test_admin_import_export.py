"""Spreadsheets in the admin: imports go through the services and the user's
scope, all or nothing; exports show only the user's subtree, ID numbers masked.

Olga administers 城中区 (staff, no clerk role); Alice is its clerk, made staff
here; Dave is the clerk of 城东区 next door."""

import io

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from allocations import services as money
from allocations.models import Fund
from allocations.resources import FundResource
from beneficiaries import idnumber
from beneficiaries import services as people
from beneficiaries.models import Beneficiary, Unit
from beneficiaries.resources import BeneficiaryResource, BeneficiaryWithIdNumbersResource, UnitResource
from tests.conftest import member, staff, synthetic_id
from unionfunds.models import AuditEvent, ExportRecord, Federation, Role
from unionfunds.resources import FederationResource
from unionfunds.services import federation_move

FEDERATIONS = "/admin/unionfunds/federation/"
BENEFICIARIES = "/admin/beneficiaries/beneficiary/"
UNITS = "/admin/beneficiaries/unit/"
FUNDS = "/admin/allocations/fund/"


@pytest.fixture
def clerk_alice(alice):
    return staff(alice)


def upload(text: str, *, encoding: str = "utf-8") -> SimpleUploadedFile:
    return SimpleUploadedFile("rows.csv", text.encode(encoding), content_type="text/csv")


def preview(client, admin_url: str, text: str, **kwargs):
    """The first step: upload the file; the dry run shows what would happen."""
    return client.post(f"{admin_url}import/", {"format": "0", "resource": "0", "import_file": upload(text, **kwargs)})


def confirm(client, admin_url: str, previewed):
    assert "confirm_form" in previewed.context, errors_on_page(previewed)
    return client.post(f"{admin_url}process_import/", previewed.context["confirm_form"].initial)


def errors_on_page(response) -> str:
    result = response.context["result"]
    problems = [f"row {row.number}: {row.error_dict}" for row in result.invalid_rows]
    problems += [f"row {line}: {error.error!r}" for line, errors in result.row_errors() for error in errors]
    problems += [repr(error.error) for error in result.base_errors]
    return "; ".join(problems)


def export(client, admin_url: str, resource, *, choice: int = 0) -> str:
    data = {"format": "0", "resource": str(choice)}
    for field in resource().get_export_order():
        data[f"{resource.__name__.lower()}_{field}"] = "on"
    response = client.post(f"{admin_url}export/", data)
    assert response.status_code == 200, response.content[:500]
    content = response.content.decode("utf-8")
    assert content.startswith("\ufeff")
    return content


def csv_rows(content: str) -> list[list[str]]:
    return [line.split(",") for line in content.lstrip("\ufeff").strip().splitlines()]


# Federations ---------------------------------------------------------------------


@pytest.mark.django_db
def test_importing_federations_adds_a_parent_and_its_child_in_the_tree(client, tree, olga):
    client.force_login(olga)
    rows = (
        "code,name,level,parent\n"
        "630103-T01,南关街道工会,township,630103\n"
        "630103-T01-G01,南关街道某公司工会,grassroots,630103-T01\n"
        "630103-T02,北关街道工会,township,630103\n"
    )

    previewed = preview(client, FEDERATIONS, rows)
    assert previewed.status_code == 200
    assert [row.import_type for row in previewed.context["result"].rows] == ["new", "new", "new"]
    assert not Federation.objects.filter(code__startswith="630103-T01").exists()  # the preview wrote nothing

    response = confirm(client, FEDERATIONS, previewed)
    assert response.status_code == 302
    street = Federation.objects.get(code="630103-T01")
    company = Federation.objects.get(code="630103-T01-G01")
    county = tree["chengzhong"]
    assert street.parent == county and company.parent == street
    assert street.path.startswith(county.path) and street.depth == county.depth + 1
    assert company.path.startswith(street.path) and company.depth == street.depth + 1
    sibling = Federation.objects.get(code="630103-T02")
    assert sibling.parent == county and not sibling.path.startswith(street.path)
    assert Federation.objects.find_problems() == ([], [], [], [], [])
    created = AuditEvent.objects.filter(action="federation.created", user=olga)
    assert sorted(created.values_list("object_id", flat=True)) == sorted([street.pk, company.pk, sibling.pk])


@pytest.mark.django_db
def test_a_federation_row_outside_the_users_subtree_is_refused_and_nothing_is_written(client, tree, olga):
    client.force_login(olga)
    rows = "code,name,level,parent\n630103-T01,南关街道工会,township,630103\n630102-T01,东关街道工会,township,630102\n"

    previewed = preview(client, FEDERATIONS, rows)
    assert "confirm_form" not in previewed.context
    [refused] = previewed.context["result"].invalid_rows
    assert refused.number == 2
    assert "630102" in previewed.content.decode()
    assert not Federation.objects.filter(code__in=["630103-T01", "630102-T01"]).exists()


@pytest.mark.django_db
def test_a_federation_row_where_the_user_only_audits_is_refused(client, tree, olga):
    olga = member("olga", tree["qinghai"], Role.AUDITOR)  # sees 城东区, administers only 城中区
    client.force_login(olga)
    previewed = preview(client, FEDERATIONS, "code,name,level,parent\n630102-T01,东关街道工会,township,630102\n")
    [refused] = previewed.context["result"].invalid_rows
    assert "parent" in refused.error_dict
    assert "城东区总工会" in previewed.content.decode()
    assert not Federation.objects.filter(code="630102-T01").exists()


@pytest.mark.django_db
def test_an_import_renames_a_federation_but_never_moves_one(client, tree, olga):
    client.force_login(olga)
    renamed = preview(client, FEDERATIONS, "code,name,level,parent\n630103,城中区总工会（新）,county,6301\n")
    assert [row.import_type for row in renamed.context["result"].rows] == ["update"]
    assert confirm(client, FEDERATIONS, renamed).status_code == 302
    assert Federation.objects.get(code="630103").name == "城中区总工会（新）"
    event = AuditEvent.objects.get(action="federation.renamed")
    assert event.changes == {"name": {"before": "城中区总工会", "after": "城中区总工会（新）"}}

    moved = preview(client, FEDERATIONS, "code,name,level,parent\n630103-G01,城中区建筑公司工会,grassroots,630104\n")
    [refused] = moved.context["result"].invalid_rows
    assert "parent" in refused.error_dict
    assert Federation.objects.get(code="630103-G01").parent == tree["chengzhong"]


@pytest.mark.django_db
def test_unchanged_federation_rows_are_skipped(client, tree, olga):
    client.force_login(olga)
    previewed = preview(client, FEDERATIONS, "code,name,level,parent\n630103,城中区总工会,county,6301\n")
    assert [row.import_type for row in previewed.context["result"].rows] == ["skip"]


@pytest.mark.django_db
def test_exported_federations_are_the_users_subtree_and_import_again_unchanged(client, tree, olga):
    client.force_login(olga)
    content = export(client, FEDERATIONS, FederationResource)
    assert csv_rows(content) == [
        ["code", "name", "level", "parent"],
        ["630103", "城中区总工会", "county", "6301"],
        ["630103-G01", "城中区建筑公司工会", "grassroots", "630103"],
    ]
    previewed = preview(client, FEDERATIONS, content.lstrip("\ufeff"))
    assert [row.import_type for row in previewed.context["result"].rows] == ["skip", "skip"]


@pytest.mark.django_db
def test_only_administrators_may_import_federations(client, tree, clerk_alice):
    client.force_login(clerk_alice)
    assert client.get(f"{FEDERATIONS}import/").status_code == 403
    assert preview(client, FEDERATIONS, "code,name,level,parent\n630103-T01,x,township,630103\n").status_code == 403
    assert not Federation.objects.filter(code="630103-T01").exists()


# Beneficiaries ------------------------------------------------------------------


def wrong_check_digit(number: str) -> str:
    return number[:17] + ("0" if number[17] != "0" else "1")


@pytest.mark.django_db
def test_a_beneficiaries_csv_with_one_bad_check_digit_writes_nothing(client, tree, clerk_alice):
    client.force_login(clerk_alice)
    events_before = AuditEvent.objects.count()
    rows = (
        "name,id_number,federation,categories\n"
        f"王五,{synthetic_id(11)},630103,model_worker\n"
        f"赵六,{wrong_check_digit(synthetic_id(12))},630103,\n"
    )
    previewed = preview(client, BENEFICIARIES, rows)
    assert previewed.status_code == 200
    assert "confirm_form" not in previewed.context
    [refused] = previewed.context["result"].invalid_rows
    assert refused.number == 2 and "id_number" in refused.error_dict
    page = previewed.content.decode()
    assert "身份证号码无效：校验码不符" in page
    assert not Beneficiary.objects.exists()
    assert AuditEvent.objects.count() == events_before


@pytest.mark.django_db
def test_beneficiaries_are_registered_and_updated_through_the_services(client, tree, clerk_alice, worker):
    client.force_login(clerk_alice)
    new_number = synthetic_id(13, area="630104")
    rows = (
        "name,id_number,phone,employer,federation,categories\n"
        f'王五,{new_number.lower()},13800000000,西宁建工,630103-G01,"model_worker，migrant_worker"\n'
        f"张三,{worker.id_number},13900000000,,630103,migrant_worker\n"
    )
    previewed = preview(client, BENEFICIARIES, rows)
    assert [row.import_type for row in previewed.context["result"].rows] == ["new", "update"]
    assert confirm(client, BENEFICIARIES, previewed).status_code == 302

    added = Beneficiary.objects.get(id_number=new_number)
    assert added.federation == tree["grassroots"] and added.gender == "male"
    assert sorted(added.categories.values_list("code", flat=True)) == ["migrant_worker", "model_worker"]
    worker.refresh_from_db()
    assert worker.phone == "13900000000"
    assert AuditEvent.objects.filter(action="beneficiary.registered", object_id=added.pk).exists()
    assert AuditEvent.objects.filter(action="beneficiary.edited", object_id=worker.pk).exists()


@pytest.mark.django_db
def test_a_person_registered_elsewhere_gets_a_card_and_the_register_is_not_overwritten(client, tree, clerk_alice, dave):
    number = synthetic_id(14, area="630102")
    people.beneficiary_register(name="李四", id_number=number, federation=tree["chengdong"], by=dave)
    client.force_login(clerk_alice)
    previewed = preview(client, BENEFICIARIES, f"name,id_number,federation\n李四改,{number},630103\n")
    assert [row.import_type for row in previewed.context["result"].rows] == ["new"]
    assert confirm(client, BENEFICIARIES, previewed).status_code == 302
    person = Beneficiary.objects.get(id_number=number)
    assert person.name == "李四" and person.federation == tree["chengdong"]
    assert [(card.name, card.federation) for card in person.cards.all()] == [("李四改", tree["chengzhong"])]


@pytest.mark.django_db
def test_the_confirmed_import_is_all_or_nothing_when_data_changed_since_the_preview(client, tree, clerk_alice):
    client.force_login(clerk_alice)
    first, second = synthetic_id(15), synthetic_id(16, area="630102")
    previewed = preview(
        client, BENEFICIARIES, f"name,id_number,federation\n王五,{first},630103\n李四,{second},630103-G01\n"
    )
    # Between the preview and the confirmation, the second row's federation moves to 城东区.
    federation_move(federation=tree["grassroots"], new_parent=tree["chengdong"])

    response = confirm(client, BENEFICIARIES, previewed)
    assert response.status_code == 400
    assert response.context["result"].invalid_rows[0].number == 2
    assert not Beneficiary.objects.filter(id_number=first).exists()


@pytest.mark.django_db
def test_a_csv_saved_by_chinese_excel_in_gbk_is_read(client, tree, clerk_alice):
    client.force_login(clerk_alice)
    number = synthetic_id(17)
    previewed = preview(client, BENEFICIARIES, f"name,id_number,federation\n王五,{number},630103\n", encoding="gbk")
    assert confirm(client, BENEFICIARIES, previewed).status_code == 302
    assert Beneficiary.objects.get(id_number=number).name == "王五"


@pytest.mark.django_db
def test_exported_beneficiaries_are_masked_and_only_from_the_users_subtree(client, worker, neighbours_worker, olga):
    client.force_login(olga)
    content = export(client, BENEFICIARIES, BeneficiaryResource)
    rows = csv_rows(content)
    assert rows[0][:2] == ["name", "id_number"]
    assert [row[:2] for row in rows[1:]] == [["张三", idnumber.mask(worker.id_number)]]
    assert worker.id_number not in content
    assert "李四" not in content and neighbours_worker.id_number not in content


@pytest.mark.django_db
def test_masked_is_the_default_even_for_a_clerk(client, worker, clerk_alice):
    client.force_login(clerk_alice)
    content = export(client, BENEFICIARIES, BeneficiaryResource)
    assert idnumber.mask(worker.id_number) in content
    assert worker.id_number not in content
    assert not AuditEvent.objects.filter(action="beneficiary.id_number_shown").exists()
    assert ExportRecord.objects.get().full_id_numbers is False


@pytest.mark.django_db
def test_a_clerk_may_export_full_id_numbers_and_each_one_shown_is_recorded(
    client, worker, neighbours_worker, clerk_alice
):
    client.force_login(clerk_alice)
    content = export(client, BENEFICIARIES, BeneficiaryWithIdNumbersResource, choice=1)
    assert worker.id_number in content
    assert neighbours_worker.id_number not in content
    shown = AuditEvent.objects.get(action="beneficiary.id_number_shown")
    assert (shown.object_id, shown.user) == (worker.pk, clerk_alice)
    logged = ExportRecord.objects.get()
    assert (logged.user, logged.what, logged.format, logged.row_count, logged.full_id_numbers) == (
        clerk_alice,
        "admin.beneficiary",
        "csv",
        1,
        True,
    )


@pytest.mark.django_db
def test_full_id_numbers_are_not_offered_to_an_administrator(client, worker, olga):
    client.force_login(olga)
    page = client.get(f"{BENEFICIARIES}export/")
    assert len(page.context["form"].fields["resource"].choices) == 1
    response = client.post(f"{BENEFICIARIES}export/", {"format": "0", "resource": "1"})
    assert worker.id_number not in response.content.decode()


# Units and funds -------------------------------------------------------------------


@pytest.mark.django_db
def test_a_clerk_imports_units_only_in_their_subtree(client, tree, clerk_alice):
    client.force_login(clerk_alice)
    refused = preview(client, UNITS, "federation,name,kind\n630103,城中区医院,hospital\n630102,城东区医院,hospital\n")
    assert [row.number for row in refused.context["result"].invalid_rows] == [2]
    assert not Unit.objects.exists()

    previewed = preview(client, UNITS, "federation,name,kind\n630103,城中区医院,hospital\n")
    assert confirm(client, UNITS, previewed).status_code == 302
    assert Unit.objects.get().federation == tree["chengzhong"]


@pytest.mark.django_db
def test_an_existing_unit_is_not_changed_by_an_import(client, tree, clerk_alice):
    people.unit_create(name="城中区医院", kind="hospital", federation=tree["chengzhong"], by=clerk_alice)
    client.force_login(clerk_alice)
    previewed = preview(client, UNITS, "federation,name,kind\n630103,城中区医院,enterprise\n")
    [refused] = previewed.context["result"].invalid_rows
    assert "kind" in refused.error_dict
    assert Unit.objects.get().kind == "hospital"


@pytest.mark.django_db
def test_a_fund_import_opens_funds_with_no_money_in_them(client, tree, olga):
    client.force_login(olga)
    with_money = preview(
        client, FUNDS, "federation,name,purpose,fiscal_year,balance\n630103,送温暖资金,warmth,2023,50000\n"
    )
    [refused] = with_money.context["result"].invalid_rows
    assert "balance" in refused.error_dict
    assert not Fund.objects.exists()

    previewed = preview(
        client, FUNDS, "federation,name,purpose,fiscal_year,balance,reserved\n630103,送温暖资金,warmth,2023,,0\n"
    )
    assert confirm(client, FUNDS, previewed).status_code == 302
    fund = Fund.objects.get()
    assert (fund.federation, fund.balance, fund.reserved) == (tree["chengzhong"], 0, 0)
    assert AuditEvent.objects.filter(action="fund.created", object_id=fund.pk, user=olga).exists()


@pytest.mark.django_db
def test_a_fund_import_needs_the_admin_role_at_the_funds_federation(client, tree, olga):
    client.force_login(olga)
    previewed = preview(client, FUNDS, "federation,name,purpose,fiscal_year\n630102,送温暖资金,warmth,2023\n")
    [refused] = previewed.context["result"].invalid_rows
    assert "federation" in refused.error_dict
    assert not Fund.objects.exists()


@pytest.mark.django_db
def test_funds_export_with_their_balances_only_within_the_subtree(client, tree, fund, dave, olga):
    money.fund_create(federation=tree["chengdong"], name="送温暖资金", purpose="warmth", fiscal_year=2022, by=dave)
    client.force_login(olga)
    rows = csv_rows(export(client, FUNDS, FundResource))
    assert rows == [
        ["id", "federation", "name", "purpose", "fiscal_year", "balance", "reserved"],
        [str(fund.pk), "630103", "疫情防控专项资金", "pandemic", "2022", "10000.00", "0.00"],
    ]


@pytest.mark.django_db
def test_an_exported_fund_list_imported_again_changes_nothing(client, tree, fund, olga):
    client.force_login(olga)
    content = export(client, FUNDS, FundResource)
    previewed = preview(client, FUNDS, content.lstrip("\ufeff"))
    assert [row.import_type for row in previewed.context["result"].rows] == ["skip"]
    fund.refresh_from_db()
    assert fund.balance == 10000


@pytest.mark.django_db
def test_exported_text_cannot_run_as_a_formula(client, tree, clerk_alice):
    people.unit_create(name="=HYPERLINK(1)", kind="other", federation=tree["chengzhong"], by=clerk_alice)
    client.force_login(clerk_alice)
    content = export(client, UNITS, UnitResource)
    assert "'=HYPERLINK(1)" in content

    data = {"format": "1", "resource": "0", **{f"unitresource_{name}": "on" for name in ("federation", "name", "kind")}}
    sheet = openpyxl.load_workbook(io.BytesIO(client.post(f"{UNITS}export/", data).content)).active
    assert [cell.value for cell in sheet[2]] == ["630103", "'=HYPERLINK(1)", "other"]


@pytest.mark.django_db
def test_an_excel_sheet_of_beneficiaries_is_imported_with_id_numbers_as_text(client, tree, clerk_alice):
    number = synthetic_id(18)
    book = openpyxl.Workbook()
    book.active.append(["name", "id_number", "federation"])
    book.active.append(["王五", number, "630103"])
    content = io.BytesIO()
    book.save(content)
    client.force_login(clerk_alice)
    previewed = client.post(
        f"{BENEFICIARIES}import/",
        {"format": "1", "resource": "0", "import_file": SimpleUploadedFile("rows.xlsx", content.getvalue())},
    )
    assert confirm(client, BENEFICIARIES, previewed).status_code == 302
    assert Beneficiary.objects.get(id_number=number).name == "王五"


@pytest.mark.django_db
def test_the_list_offers_import_and_export_by_role(client, tree, olga, clerk_alice):
    client.force_login(olga)
    page = client.get(FEDERATIONS)
    assert page.context["has_import_permission"] and page.context["has_export_permission"]
    client.force_login(clerk_alice)
    page = client.get(FEDERATIONS)
    assert not page.context["has_import_permission"] and page.context["has_export_permission"]
    assert client.get(f"{BENEFICIARIES}import/").status_code == 200
