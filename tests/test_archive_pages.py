"""The hardship archive's pages as a union office uses them: a clerk files a
household and asks for its admission on one page (all or nothing, each problem
in its row), an approver other than her decides on the entry's page, the list
shows the three views a finance office works from, documents are kept and
served only to those who see the entry, and a payment past a rule carries its
reason to the approver."""

import datetime
import re
import uuid
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from allocations import services as money
from allocations.models import Disbursement, PolicyRule, RuleScope
from beneficiaries import archive
from beneficiaries import services as people
from beneficiaries.archive_models import (
    ArchiveChange,
    ArchiveEntry,
    ArchiveEvidence,
    ArchiveStatus,
    ChangeStatus,
    DibaoLine,
    Household,
    HouseholdMember,
)
from beneficiaries.models import Beneficiary
from beneficiaries.services import person_line
from tests.conftest import member, synthetic_id
from tests.factories import FundFactory, approved_contribution
from unionfunds.models import AuditEvent, Role

TODAY = timezone.localdate()
FIGURES = archive.Figures(tier="deep", income_per_head=Decimal("520.00"), causes=("illness",))
CHILD_BIRTH = datetime.date(2010, 3, 1)


def filing(federation, **fields) -> dict:
    """The filing page's form for 王家 (three members), with what a clerk types."""
    members = fields.pop(
        "members",
        [
            ("王大明", synthetic_id(11), "head"),
            ("李秀英", synthetic_id(12), "spouse"),
            ("王小明", synthetic_id(13, birth=CHILD_BIRTH), "child"),
        ],
    )
    data = {
        "submission": str(uuid.uuid4()),
        "federation": federation.pk,
        "address": "城中区幸福路1号",
        "tier": "deep",
        "standard": "城中区困难职工认定办法",
        "income_per_head": "520",
        "causes": ["illness", "schooling"],
        "valid_from": TODAY.isoformat(),
        "valid_to": "",
        "note": "",
        "members-TOTAL_FORMS": str(max(len(members), 4)),
        "members-INITIAL_FORMS": "0",
        "members-MIN_NUM_FORMS": "0",
        "members-MAX_NUM_FORMS": "30",
    }
    for n, (name, number, relation) in enumerate(members):
        data |= {f"members-{n}-name": name, f"members-{n}-id_number": number, f"members-{n}-relation": relation}
    return data | fields


def household(federation, by, *people: tuple[str, str, str]):
    lines = [archive.MemberLine(person_line(name=n, id_number=i), relation) for n, i, relation in people]
    return archive.household_file(federation=federation, members=lines, by=by)


def asked(house, clerk, valid_from=TODAY):
    return archive.archive_open(household=house, figures=FIGURES, valid_from=valid_from, by=clerk)


def admitted(house, clerk, approver, valid_from=TODAY):
    change = asked(house, clerk, valid_from)
    archive.archive_change_approve(change=change, by=approver)
    return ArchiveEntry.objects.get(pk=change.entry_id)


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]] if response.context else []


def row_errors(page: str, row: int) -> str:
    """The text of the member row `row` (0-based) of the filing page, errors included."""
    rows = re.findall(r'<tr class="member-row">(.*?)</tr>', page, re.S)
    return rows[row]


@pytest.fixture
def dibao(tree):
    return DibaoLine.objects.create(federation=tree["xining"], year=TODAY.year, monthly=Decimal("840.00"))


@pytest.fixture
def wang(tree, alice, bob, dibao):
    """王家, admitted today: 王大明 (户主), his wife, their son."""
    return admitted(
        household(
            tree["chengzhong"],
            alice,
            ("王大明", synthetic_id(11), "head"),
            ("李秀英", synthetic_id(12), "spouse"),
            ("王小明", synthetic_id(13, birth=CHILD_BIRTH), "child"),
        ),
        alice,
        bob,
    )


@pytest.fixture
def second():
    """Another browser, beside the clerk's."""
    return Client()


@pytest.fixture
def bob_client(client, bob):
    client.force_login(bob)
    return client


# Filing ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_clerk_files_a_household_of_three_and_asks_for_its_admission(alice_client, tree, alice, dibao):
    response = alice_client.post("/archive/new/", filing(tree["chengzhong"]))
    entry = ArchiveEntry.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/archive/{entry.pk}/"
    members = [(m.name, m.beneficiary.id_number, m.relation) for m in entry.household.members.order_by("pk")]
    assert members == [
        ("王大明", synthetic_id(11), "head"),
        ("李秀英", synthetic_id(12), "spouse"),
        ("王小明", synthetic_id(13, birth=CHILD_BIRTH), "child"),
    ]
    assert (entry.status, entry.tier, entry.income_per_head, entry.causes) == (
        ArchiveStatus.PENDING,
        "deep",
        Decimal("520.00"),
        ["illness", "schooling"],
    )
    assert (entry.household.address, entry.standard, entry.dibao_monthly) == (
        "城中区幸福路1号",
        "城中区困难职工认定办法",
        Decimal("840.00"),
    )
    change = entry.changes.get()
    assert (change.kind, change.status, change.created_by) == ("open", ChangeStatus.PENDING, alice)
    page = alice_client.get(response["Location"])
    assert "已提交建档，等待审批。" in messages_of(page)
    text = page.content.decode()
    assert "王大明 (6301**********" in text and "户主" in text and "待审批" in text
    assert synthetic_id(11) not in text  # members are shown masked


@pytest.mark.django_db
def test_a_second_press_of_the_button_files_nothing_more(alice_client, tree, dibao):
    data = filing(tree["chengzhong"])
    first = alice_client.post("/archive/new/", data)
    again = alice_client.post("/archive/new/", data)
    assert again.status_code == 302 and again["Location"] == first["Location"]
    assert (Household.objects.count(), ArchiveEntry.objects.count()) == (1, 1)


@pytest.mark.django_db
def test_each_problem_of_a_filing_shows_in_its_row_and_nothing_is_written(alice_client, tree):
    data = filing(
        tree["chengzhong"],
        members=[
            ("王大明", synthetic_id(11), "head"),
            ("李秀英", synthetic_id(12)[:-1] + ("0" if synthetic_id(12)[-1] != "0" else "1"), "spouse"),
            ("", "", "child"),  # a row left blank but for the relation: left out
            ("王小明", synthetic_id(13, birth=CHILD_BIRTH), ""),
        ],
        income_per_head="五百",
        tier="",
    )
    response = alice_client.post("/archive/new/", data)
    assert response.status_code == 200
    page = response.content.decode()
    assert "校验" in row_errors(page, 1)  # the check character of the spouse's number
    assert "该字段是必填项" in row_errors(page, 3)  # the child's relation
    assert 'class="error"' not in row_errors(page, 0) and 'class="error"' not in row_errors(page, 2)
    assert re.search(r"id_income_per_head.*?class=\"error\"", page, re.S)
    assert (Household.objects.count(), Beneficiary.objects.count(), ArchiveEntry.objects.count()) == (0, 0, 0)


@pytest.mark.django_db
def test_the_services_refusals_come_back_beside_their_rows(alice_client, tree):
    twice = synthetic_id(11)
    data = filing(
        tree["chengzhong"],
        members=[("王大明", twice, "spouse"), ("李秀英", synthetic_id(12), "spouse"), ("王大明", twice, "child")],
    )
    page = alice_client.post("/archive/new/", data).content.decode()
    assert "在本家庭中重复列出" in row_errors(page, 2)
    assert "户主" in page.split('<table class="data members')[0].rsplit("<legend>", 1)[1]  # above the rows
    assert not Household.objects.exists() and not Beneficiary.objects.exists()


@pytest.mark.django_db
def test_a_filing_whose_admission_is_refused_leaves_no_household_behind(client, tree, alice, dave, wang):
    """The household is written, then its admission refused (王大明 is in 城中区's
    open archive): the whole filing is undone, and the refusal names no one."""
    client.force_login(dave)
    data = filing(tree["chengdong"], members=[("王大明", synthetic_id(11), "head")])
    response = client.post("/archive/new/", data)
    assert response.status_code == 200
    page = response.content.decode()
    assert "6301**********" in page and "另一家庭" in page
    assert Household.objects.count() == 1 and ArchiveEntry.objects.count() == 1


@pytest.mark.django_db
def test_the_filing_is_in_english_for_who_chose_english(alice_client, tree):
    alice_client.cookies["django_language"] = "en"
    no_cause = alice_client.post("/archive/new/", filing(tree["chengzhong"], causes=[])).content.decode()
    assert re.search(r'id="id_causes".*?class="error">This field is required.', no_cause, re.S)
    assert "File and ask for admission" in no_cause
    no_head = filing(tree["chengzhong"], members=[("王大明", synthetic_id(11), "spouse")])
    assert "A household has exactly one head (户主)." in alice_client.post("/archive/new/", no_head).content.decode()
    assert not Household.objects.exists()


@pytest.mark.django_db
def test_hostile_figures_get_a_clear_message_not_a_server_error(alice_client, tree):
    for income in ("１２３", "1e400", "9" * 30, "-5", "1.005"):
        response = alice_client.post("/archive/new/", filing(tree["chengzhong"], income_per_head=income))
        assert response.status_code == 200, income
        assert "月人均收入" in response.content.decode()
    response = alice_client.post("/archive/new/", filing(tree["chengzhong"], address="幸福路\x001号"))
    assert response.status_code == 200 and "空字符" in response.content.decode()
    assert not Household.objects.exists()


@pytest.mark.django_db
def test_without_scripts_a_row_is_added_by_posting_the_form_back(alice_client, tree):
    data = filing(tree["chengzhong"], members=[("王大明", synthetic_id(11), "head")]) | {"add_row": "1"}
    response = alice_client.post("/archive/new/", data)
    assert response.status_code == 200
    page = response.content.decode()
    rows = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert len(re.findall(r'<tr class="member-row">', rows)) == 5
    assert 'value="王大明"' in page and 'value="城中区幸福路1号"' in page
    assert 'class="error"' not in page
    assert not Household.objects.exists()


@pytest.mark.django_db
def test_only_a_clerk_may_file(bob_client, carol, client):
    assert bob_client.get("/archive/new/").status_code == 403
    client.force_login(carol)
    assert client.get("/archive/new/").status_code == 403


# Deciding: maker-checker ------------------------------------------------------------------


@pytest.mark.django_db
def test_an_approver_admits_the_household_and_its_clerk_cannot(client, tree, alice, bob, dibao):
    both = member("zhao", tree["chengzhong"], Role.CLERK, Role.APPROVER)
    change = asked(household(tree["chengzhong"], both, ("王大明", synthetic_id(11), "head")), both)
    client.force_login(both)
    page = client.get(f"/archive/{change.entry_id}/").content.decode()
    assert 'value="approve"' not in page and 'value="withdraw"' in page
    response = client.post(f"/archive/changes/{change.pk}/decide/", {"action": "approve"}, follow=True)
    assert "这笔记录由您本人录入，须由其他审批人审批。" in messages_of(response)
    assert ArchiveChange.objects.get().status == ChangeStatus.PENDING

    client.force_login(bob)
    assert 'value="approve"' in client.get(f"/archive/{change.entry_id}/").content.decode()
    response = client.post(f"/archive/changes/{change.pk}/decide/", {"action": "approve"}, follow=True)
    assert "已批准。" in messages_of(response)
    entry = ArchiveEntry.objects.get()
    assert (entry.status, entry.opened_on) == (ArchiveStatus.OPEN, TODAY)
    assert HouseholdMember.objects.get().in_open_archive
    assert "在档" in response.content.decode()


@pytest.mark.django_db
def test_a_rejection_needs_a_reason_and_keeps_it(bob_client, tree, alice, dibao):
    change = asked(household(tree["chengzhong"], alice, ("王大明", synthetic_id(11), "head")), alice)
    response = bob_client.post(f"/archive/changes/{change.pk}/decide/", {"action": "reject"}, follow=True)
    assert "请填写原因。" in messages_of(response)
    assert ArchiveChange.objects.get().status == ChangeStatus.PENDING
    response = bob_client.post(
        f"/archive/changes/{change.pk}/decide/", {"action": "reject", "reason": "收入超过低保标准"}, follow=True
    )
    assert "已驳回。" in messages_of(response)
    change.refresh_from_db()
    assert (change.status, change.decision_note, change.decided_by.username) == ("rejected", "收入超过低保标准", "bob")
    assert ArchiveEntry.objects.get().status == ArchiveStatus.REJECTED
    assert "收入超过低保标准" in response.content.decode()


@pytest.mark.django_db
def test_the_clerk_withdraws_her_ask_and_no_one_else_may(alice_client, tree, alice, bob, dibao):
    change = asked(household(tree["chengzhong"], alice, ("王大明", synthetic_id(11), "head")), alice)
    client = Client()
    client.force_login(member("qian", tree["chengzhong"], Role.CLERK))
    assert client.post(f"/archive/changes/{change.pk}/decide/", {"action": "withdraw"}).status_code == 403
    response = alice_client.post(f"/archive/changes/{change.pk}/decide/", {"action": "withdraw"}, follow=True)
    assert "已撤回。" in messages_of(response)
    assert ArchiveChange.objects.get().status == ChangeStatus.WITHDRAWN
    assert ArchiveEntry.objects.get().status == ArchiveStatus.REJECTED


@pytest.mark.django_db
def test_a_decided_change_cannot_be_decided_again(bob_client, wang):
    change = wang.changes.get()
    response = bob_client.post(f"/archive/changes/{change.pk}/decide/", {"action": "approve"}, follow=True)
    assert "该变更已审批。" in messages_of(response)
    assert response.status_code == 200


# Reviews, closing, reopening ------------------------------------------------------------


@pytest.mark.django_db
def test_the_clerk_closes_the_entry_with_a_reason_and_the_approver_approves(alice_client, second, bob, wang):
    response = alice_client.post(
        f"/archive/{wang.pk}/ask/",
        {"action": "close", "close-reason": "out_of_hardship", "close-closed_on": TODAY.isoformat(), "close-note": ""},
        follow=True,
    )
    assert "已申请销档，等待审批。" in messages_of(response)
    close = wang.changes.get(kind="close")
    assert (close.status, close.close_reason, close.effective_on) == ("pending", "out_of_hardship", TODAY)
    assert alice_client.get("/archive/?view=follow_up").context["page"].paginator.count == 0

    second.force_login(bob)
    second.post(f"/archive/changes/{close.pk}/decide/", {"action": "approve"})
    wang.refresh_from_db()
    assert (wang.status, wang.close_reason, wang.closed_on) == (ArchiveStatus.CLOSED, "out_of_hardship", TODAY)
    listed = alice_client.get("/archive/?view=follow_up")
    assert [entry.pk for entry in listed.context["page"]] == [wang.pk]
    assert "解困脱困" in listed.content.decode()


@pytest.mark.django_db
def test_a_close_without_its_reason_is_refused_beside_the_box(alice_client, wang):
    response = alice_client.post(
        f"/archive/{wang.pk}/ask/", {"action": "close", "close-reason": "", "close-closed_on": TODAY.isoformat()}
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert re.search(r'id_close-reason.*?class="error">该字段是必填项', page, re.S)
    assert wang.changes.count() == 1


@pytest.mark.django_db
def test_a_review_records_new_figures_once_approved(alice_client, second, bob, wang):
    data = {
        "action": "review",
        "review-reviewed_on": TODAY.isoformat(),
        "review-tier": "relative",
        "review-income_per_head": "760.50",
        "review-causes": ["illness"],
        "review-valid_to": "",
        "review-note": "复查：已就业",
    }
    bad = alice_client.post(f"/archive/{wang.pk}/ask/", data | {"review-income_per_head": "七百"})
    assert bad.status_code == 200 and "请填写家庭月人均收入" in bad.content.decode()
    assert wang.changes.count() == 1
    alice_client.post(f"/archive/{wang.pk}/ask/", data)
    review = wang.changes.get(kind="review")
    wang.refresh_from_db()
    assert wang.tier == "deep"  # not before it is approved
    # A second ask while one waits (a page left open) is refused with a message.
    again = alice_client.post(f"/archive/{wang.pk}/ask/", data, follow=True)
    assert "该档案已有一项变更在等待审批。" in messages_of(again)
    second.force_login(bob)
    second.post(f"/archive/changes/{review.pk}/decide/", {"action": "approve"})
    wang.refresh_from_db()
    assert (wang.tier, wang.income_per_head, wang.checked_on) == ("relative", Decimal("760.50"), TODAY)
    page = second.get(f"/archive/{wang.pk}/").content.decode()
    assert "复查：已就业" in page and "760.50" in page


@pytest.mark.django_db
def test_a_closed_entry_is_reopened_when_the_household_falls_back(alice_client, second, alice, bob, wang):
    archive.archive_change_approve(
        change=archive.archive_close(entry=wang, reason="out_of_hardship", closed_on=TODAY, by=alice), by=bob
    )
    page = alice_client.get(f"/archive/{wang.pk}/").content.decode()
    assert 'value="reopen"' in page and 'value="review"' not in page
    alice_client.post(
        f"/archive/{wang.pk}/ask/",
        {
            "action": "reopen",
            "reopen-reopened_on": TODAY.isoformat(),
            "reopen-tier": "accident",
            "reopen-income_per_head": "300",
            "reopen-causes": ["accident"],
        },
    )
    second.force_login(bob)
    second.post(f"/archive/changes/{wang.changes.get(kind='reopen').pk}/decide/", {"action": "approve"})
    wang.refresh_from_db()
    assert (wang.status, wang.tier, wang.reopened_on) == (ArchiveStatus.OPEN, "accident", TODAY)


@pytest.mark.django_db
def test_an_approver_who_is_no_clerk_cannot_ask(bob_client, wang):
    response = bob_client.post(
        f"/archive/{wang.pk}/ask/", {"action": "close", "close-reason": "died", "close-closed_on": TODAY.isoformat()}
    )
    assert response.status_code == 403
    assert wang.changes.count() == 1


# The list -----------------------------------------------------------------------------------


@pytest.fixture
def three_entries(tree, alice, bob, dave, dibao, wang):
    """王家 (open, deep), 刘家 pending (relative), and 城东区's 陈家 next door."""
    liu = household(
        tree["grassroots"], alice, ("刘建国", synthetic_id(21), "head"), ("刘芳", synthetic_id(22), "child")
    )
    archive.archive_open(
        household=liu,
        figures=archive.Figures(tier="relative", income_per_head="700", causes=("unemployment",)),
        valid_from=TODAY,
        by=alice,
    )
    chen = household(tree["chengdong"], dave, ("陈东", synthetic_id(31, area="630102"), "head"))
    asked(chen, dave)
    return wang, ArchiveEntry.objects.get(household=liu), ArchiveEntry.objects.get(household=chen)


@pytest.mark.django_db
def test_the_list_shows_the_subtrees_entries_newest_first_with_the_total(alice_client, three_entries):
    wang, liu, chen = three_entries
    response = alice_client.get("/archive/")
    assert [entry.pk for entry in response.context["page"]] == [liu.pk, wang.pk]
    page = response.content.decode()
    assert "陈东" not in page and chen.number not in page
    assert "刘建国 (6301**********" in page and "城中区建筑公司工会" in page
    total = re.search(r'<tr class="total">(.*?)</tr>', page, re.S).group(1)
    assert "合计：2 份档案，2 户，5 人" in total and "待审批 1" in total and "在档 1" in total


@pytest.mark.django_db
def test_the_lists_filters_and_views(alice_client, tree, alice, bob, three_entries, hardship_fund):
    wang, liu, _chen = three_entries

    def listed(query: str) -> list[int]:
        response = alice_client.get(f"/archive/?{query}")
        assert response.status_code == 200, query
        return [entry.pk for entry in response.context["page"]]

    assert listed("status=pending") == [liu.pk]
    assert listed("tier=deep") == [wang.pk]
    assert listed(f"federation={tree['grassroots'].pk}") == [liu.pk]
    assert listed(f"federation={tree['chengdong'].pk}") == []
    assert listed("q=李秀英") == [wang.pk]
    assert listed(f"q={synthetic_id(22)[-4:]}") == [liu.pk]
    assert listed(f"q={wang.number}") == [wang.pk]
    assert listed("sort=income") == [wang.pk, liu.pk]
    assert listed("sort=-income") == [liu.pk, wang.pk]
    assert listed("view=never_helped") == [wang.pk]
    assert listed("view=due") == []
    assert listed("view=no-such-view") == [liu.pk, wang.pk]
    paid = money.disbursement_create(
        fund=hardship_fund,
        person=person_line(name="王大明", id_number=synthetic_id(11)),
        assistance_type="living",
        amount="800",
        by=alice,
    )
    money.movement_approve(movement=paid, by=bob)
    assert listed("view=never_helped") == []
    ArchiveEntry.objects.filter(pk=wang.pk).update(checked_on=TODAY - datetime.timedelta(days=400))
    assert listed("view=due") == [wang.pk]
    assert listed("view=due&status=pending") == []


@pytest.fixture
def hardship_fund(tree, alice, bob):
    fund = FundFactory(federation=tree["chengzhong"], name="困难职工帮扶资金", purpose="hardship", by=alice)
    approved_contribution(fund, "100000", by=alice, approver=bob)
    fund.refresh_from_db()
    return fund


@pytest.mark.django_db
def test_the_menu_leads_to_the_archive(alice_client):
    assert 'href="/archive/"' in alice_client.get("/").content.decode()


# The subtree ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_neighbours_entry_is_a_404_through_every_door(client, three_entries, alice, dave):
    _wang, _liu, chen = three_entries
    archive.evidence_add(entry=chen, upload=SimpleUploadedFile("陈家收入证明.pdf", b"%PDF-1.4 chen"), by=dave)
    document = ArchiveEvidence.objects.get(entry=chen)
    change = chen.changes.get()
    client.force_login(alice)
    before = (ArchiveChange.objects.count(), ArchiveEvidence.objects.count(), AuditEvent.objects.count())
    assert client.get(f"/archive/{chen.pk}/").status_code == 404
    assert client.post(f"/archive/{chen.pk}/ask/", {"action": "close", "close-reason": "died"}).status_code == 404
    upload = SimpleUploadedFile("x.pdf", b"x")
    assert client.post(f"/archive/{chen.pk}/evidence/", {"file": upload}).status_code == 404
    assert client.get(f"/archive/evidence/{document.pk}/").status_code == 404
    assert client.post(f"/archive/changes/{change.pk}/decide/", {"action": "withdraw"}).status_code == 404
    assert (ArchiveChange.objects.count(), ArchiveEvidence.objects.count(), AuditEvent.objects.count()) == before
    chen_approver = member("sun", chen.federation, Role.APPROVER)
    client.force_login(chen_approver)
    assert client.get(f"/archive/{chen.pk}/").status_code == 200


# Documents ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_document_is_kept_and_served_only_to_who_sees_the_entry(alice_client, second, carol, dave, wang):
    content = b"%PDF-1.4 income statement"
    response = alice_client.post(
        f"/archive/{wang.pk}/evidence/", {"file": SimpleUploadedFile("收入证明.pdf", content)}, follow=True
    )
    assert "材料已存入档案。" in messages_of(response)
    document = ArchiveEvidence.objects.get()
    assert (document.name, document.size, document.uploaded_by.username) == ("收入证明.pdf", len(content), "alice")
    page = response.content.decode()
    assert f'href="/archive/evidence/{document.pk}/"' in page and "/media/" not in page

    events = AuditEvent.objects.count()
    download = alice_client.get(f"/archive/evidence/{document.pk}/")
    assert download.status_code == 200 and b"".join(download.streaming_content) == content
    assert download["Content-Type"] == "application/octet-stream"
    assert download["Content-Disposition"].startswith("attachment;") and "no-store" in download["Cache-Control"]
    second.force_login(carol)  # the province's auditor sees 城中区's archive
    assert second.get(f"/archive/evidence/{document.pk}/").status_code == 200
    second.force_login(dave)
    assert second.get(f"/archive/evidence/{document.pk}/").status_code == 404
    assert AuditEvent.objects.count() == events  # a download writes nothing the service does not


@pytest.mark.django_db
def test_an_upload_without_a_file_or_too_large_says_so(alice_client, wang, settings):
    response = alice_client.post(f"/archive/{wang.pk}/evidence/", {}, follow=True)
    assert "该字段是必填项。" in " ".join(messages_of(response))
    big = SimpleUploadedFile("big.pdf", b"0" * (archive.EVIDENCE_LIMIT_MB * 1024 * 1024 + 1))
    response = alice_client.post(f"/archive/{wang.pk}/evidence/", {"file": big}, follow=True)
    assert "20 MB" in " ".join(messages_of(response))
    assert not ArchiveEvidence.objects.exists()


@pytest.mark.django_db
def test_an_auditor_reads_the_entry_but_is_offered_no_action(client, carol, wang):
    client.force_login(carol)
    page = client.get(f"/archive/{wang.pk}/").content.decode()
    assert "王大明" in page and "840.00" in page
    assert 'name="action"' not in page and 'type="file"' not in page


# What the entry page shows -----------------------------------------------------------------


@pytest.mark.django_db
def test_the_entry_page_shows_figures_beside_the_local_line_and_the_households_payments(
    alice_client, alice, bob, wang, hardship_fund
):
    paid = money.disbursement_create(
        fund=hardship_fund,
        person=person_line(name="李秀英", id_number=synthetic_id(12)),
        assistance_type="medical",
        amount="1500",
        by=alice,
    )
    money.movement_approve(movement=paid, by=bob)
    page = alice_client.get(f"/archive/{wang.pk}/").content.decode()
    income = re.search(r'<dd class="income">(.*?)</dd>', page, re.S).group(1)
    assert "520.00" in income and "840.00" in income and "62%" in income
    assert f'href="/entries/disbursement/{paid.pk}/"' in page and "1,500.00" in page
    assert "建档" in page and "bob" in page  # the history: the filing, approved by bob


@pytest.mark.django_db
def test_the_page_shows_members_as_filed_never_as_the_register_names_them(client, tree, alice, bob, dave, dibao):
    """刘大 is registered by 城东区 as 刘大; 城中区 files him as 刘老大 (his usual name)."""
    people.beneficiary_register(
        name="刘大", id_number=synthetic_id(41, area="630102"), federation=tree["chengdong"], by=dave
    )
    entry = admitted(
        household(tree["chengzhong"], alice, ("刘老大", synthetic_id(41, area="630102"), "head")), alice, bob
    )
    client.force_login(alice)
    for url in (f"/archive/{entry.pk}/", "/archive/"):
        page = client.get(url).content.decode()
        assert "刘老大" in page and "刘大 (" not in page


# Approvals ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_approver_finds_archive_changes_in_her_queue_and_on_the_home_page(bob_client, tree, alice, dibao):
    change = asked(household(tree["chengzhong"], alice, ("王大明", synthetic_id(11), "head")), alice)
    queue = bob_client.get("/approvals/").content.decode()
    assert f'href="/archive/{change.entry_id}/"' in queue and "王大明 (6301**********" in queue and "建档" in queue
    home = bob_client.get("/").content.decode()
    assert re.search(r'<div class="label">待我审批</div><div class="figure">1</div>', home)
    assert re.search(r'href="/approvals/">[^<]*<span class="badge"[^>]*>1</span>', home)
    # The clerk who asked counts nothing; an approver next door neither.
    bob_client.force_login(member("east", tree["chengdong"], Role.APPROVER))
    assert f'href="/archive/{change.entry_id}/"' not in bob_client.get("/approvals/").content.decode()


# Payments past a rule (特批) -----------------------------------------------------------------


@pytest.fixture
def living_cap(tree, admin_user):
    """生活救助 capped at 1,000 元 per household a year; an approver may override it."""
    return PolicyRule.objects.create(
        federation=tree["qinghai"],
        name="生活救助",
        purpose="hardship",
        assistance_type="living",
        scope=RuleScope.HOUSEHOLD,
        cap_amount=Decimal("1000.00"),
        overridable=True,
        created_by=admin_user,
    )


def payment(fund, **fields) -> dict:
    return {
        "fund": fund.pk,
        "recipient_kind": "person",
        "assistance_type": "living",
        "amount": "800",
        "date": TODAY.isoformat(),
        "submission": str(uuid.uuid4()),
        **fields,
    }


def field_block(page: str, name: str) -> str:
    match = re.search(r'<div class="field[^"]*"[^>]*>(?:(?!<div class="field).)*?name="' + name + r'"', page, re.S)
    assert match, f"no field {name}"
    end = page.find('<div class="field', match.end())
    return page[match.start() : end if end != -1 else len(page)]


@pytest.mark.django_db
def test_a_payment_past_the_cap_is_refused_at_the_amount_then_passes_with_a_reason(
    alice_client, second, bob, wang, hardship_fund, living_cap
):
    form = alice_client.get("/entries/new/disbursement/").content.decode()
    assert 'name="override_reason"' not in form  # offered only once a rule refuses
    person = {"id_number": synthetic_id(11), "name": "王大明"}
    refused = alice_client.post("/entries/new/disbursement/", payment(hardship_fund, amount="1200", **person))
    page = refused.content.decode()
    assert "还可领 1,000.00 元" in field_block(page, "amount")
    assert 'name="override_reason"' in page
    assert not Disbursement.objects.exists()

    saved = alice_client.post(
        "/entries/new/disbursement/",
        payment(hardship_fund, amount="1200", override_reason="因病返贫，经主席办公会研究特批", **person),
    )
    paid = Disbursement.objects.get()
    assert saved.status_code == 302 and saved["Location"] == f"/entries/disbursement/{paid.pk}/"
    assert (paid.policy_override, paid.household_id) == ("因病返贫，经主席办公会研究特批", wang.household_id)
    second.force_login(bob)
    entry_page = second.get(f"/entries/disbursement/{paid.pk}/").content.decode()
    assert "因病返贫，经主席办公会研究特批" in entry_page
    assert f'href="/archive/{wang.pk}/"' in entry_page and wang.number in entry_page
    assert "特批" in second.get("/approvals/").content.decode()


@pytest.mark.django_db
def test_a_payment_to_someone_outside_the_archive_is_refused_at_the_id_number(alice_client, wang, hardship_fund):
    response = alice_client.post(
        "/entries/new/disbursement/", payment(hardship_fund, id_number=synthetic_id(90), name="路人甲")
    )
    block = field_block(response.content.decode(), "id_number")
    assert "路人甲在" in block and "不在有效的困难职工档案中" in block
    assert not Disbursement.objects.exists() and not Beneficiary.objects.filter(name="路人甲").exists()


@pytest.mark.django_db
def test_a_payment_to_a_household_another_county_filed_does_not_open_its_file(
    client, tree, alice, bob, dave, dibao, hardship_fund
):
    east_approver = member("sun", tree["chengdong"], Role.APPROVER)
    chen = admitted(
        household(tree["chengdong"], dave, ("陈东", synthetic_id(31, area="630102"), "head")), dave, east_approver
    )
    paid = money.disbursement_create(
        fund=hardship_fund,
        person=person_line(name="陈东", id_number=synthetic_id(31, area="630102")),
        assistance_type="living",
        amount="500",
        by=alice,
    )
    assert paid.household_id == chen.household_id
    client.force_login(alice)
    page = client.get(f"/entries/disbursement/{paid.pk}/").content.decode()
    assert "另一工会档案中的家庭" in page
    assert chen.number not in page and f"/archive/{chen.pk}/" not in page
    assert "陈东家" not in page  # nor in the payment's history, which names the household it helped
