"""The hardship archive through the API: households, archive entries and the
changes that open, review, close and reopen them (maker-checker), the 低保 lines
and policy rules, and payments held to them (依档帮扶), all scoped to the subtree."""

import datetime
from decimal import Decimal

import pytest
from django.utils import translation

from allocations.models import Disbursement, PolicyRule, PolicyUsage, RuleScope
from beneficiaries import archive, idnumber
from beneficiaries import services as people
from beneficiaries.archive_models import ArchiveChange, ArchiveEntry, DibaoLine, Household, HouseholdMember
from beneficiaries.models import Beneficiary
from tests.api_helpers import API, client_for, codes
from tests.conftest import synthetic_id
from tests.factories import FundFactory, approved_contribution, numbered_id
from unionfunds.models import AuditEvent, IdempotencyKey

FIGURES = {"tier": "deep", "income_per_head": "520.00", "causes": ["illness"]}
HEAD = ("王大明", synthetic_id(11))


def household_body(federation, *people_: tuple[str, str, str], address: str = "城中区幸福路1号") -> dict:
    return {
        "federation": federation.pk,
        "address": address,
        "members": [{"name": n, "id_number": i, "relation": r} for n, i, r in people_],
    }


def filed(client, federation, *people_) -> dict:
    response = client.post(API + "households/", household_body(federation, *people_), format="json")
    assert response.status_code == 201, response.content
    return response.json()


def filing(client, household_id: int, **overrides) -> dict:
    body = {"household": household_id, "valid_from": "2022-01-01", **FIGURES, **overrides}
    response = client.post(API + "archive-entries/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def approved(client, change_id: int) -> dict:
    response = client.post(API + f"archive-changes/{change_id}/approve/")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def hardship_fund(tree, alice, bob):
    fund = FundFactory(federation=tree["chengzhong"], name="困难职工帮扶资金", purpose="hardship", by=alice)
    approved_contribution(fund, "1000000", by=alice, approver=bob)
    return fund


@pytest.fixture
def admitted(tree, alice, bob):
    """王大明's household, filed and admitted through the API; its entry."""
    house = filed(client_for(alice), tree["chengzhong"], (*HEAD, "head"), ("李秀英", synthetic_id(12), "spouse"))
    entry = filing(client_for(alice), house["id"])
    approved(client_for(bob), entry["pending_change"]["id"])
    return ArchiveEntry.objects.get(pk=entry["id"])


# The lifecycle -----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_household_is_filed_admitted_paid_closed_and_then_refused(tree, alice, bob, hardship_fund):
    clerk, approver = client_for(alice), client_for(bob)
    house = filed(clerk, tree["chengzhong"], (*HEAD, "head"), ("李秀英", synthetic_id(12), "spouse"))
    assert [(m["name"], m["id_number"], m["relation"]) for m in house["members"]] == [
        ("王大明", synthetic_id(11), "head"),  # the clerk just typed them: shown back in full
        ("李秀英", synthetic_id(12), "spouse"),
    ]

    entry = filing(clerk, house["id"], standard="城中区困难职工认定标准", note="因病致困")
    assert entry["status"] == "pending" and entry["head"] == f"王大明 ({idnumber.mask(HEAD[1])})"
    change = entry["pending_change"]
    assert (change["kind"], change["status"], change["income_per_head"], change["created_by"]) == (
        "open",
        "pending",
        "520.00",
        "alice",
    )
    payment = {"fund": hardship_fund.pk, "beneficiary": None, "assistance_type": "living", "amount": "800"}
    payment["person"] = {"name": HEAD[0], "id_number": HEAD[1]}
    early = clerk.post(API + "disbursements/", {**payment, "date": "2022-04-20"}, format="json")
    assert (early.status_code, codes(early)) == (409, ["not_in_archive"])  # not approved yet

    decided = approved(approver, change["id"])
    assert (decided["status"], decided["decided_by"]) == ("approved", "bob")
    opened = clerk.get(API + f"archive-entries/{entry['id']}/").json()
    assert (opened["status"], opened["opened_on"], opened["pending_change"]) == ("open", "2022-01-01", None)

    paid = clerk.post(API + "disbursements/", {**payment, "date": "2022-04-20"}, format="json")
    assert paid.status_code == 201, paid.content
    assert (paid.json()["household"], paid.json()["policy_override"]) == (house["id"], "")

    closing = clerk.post(
        API + f"archive-entries/{entry['id']}/close/",
        {"close_reason": "out_of_hardship", "closed_on": "2022-05-01", "note": "子女就业"},
        format="json",
    )
    assert closing.status_code == 201, closing.content
    assert (closing.json()["kind"], closing.json()["status"]) == ("close", "pending")
    approved(approver, closing.json()["id"])
    assert clerk.get(API + f"archive-entries/{entry['id']}/").json()["status"] == "closed"

    refused = clerk.post(API + "disbursements/", {**payment, "date": "2022-06-01"}, format="json")
    assert (refused.status_code, codes(refused)) == (409, ["not_in_archive"])
    assert refused.json()["errors"][0]["field"] == "person.id_number"
    assert Disbursement.objects.count() == 1
    history = clerk.get(API + "archive-changes/", {"entry": entry["id"]}).json()["results"]
    assert [(c["kind"], c["status"]) for c in history] == [("close", "approved"), ("open", "approved")]


@pytest.mark.django_db
def test_review_and_reopen_take_effect_only_once_approved(alice, bob, admitted):
    clerk, approver = client_for(alice), client_for(bob)
    review = clerk.post(
        API + f"archive-entries/{admitted.pk}/review/",
        {
            "tier": "relative",
            "income_per_head": "0",
            "causes": ["unemployment", "illness"],
            "reviewed_on": "2023-01-05",
        },
        format="json",
    )
    assert review.status_code == 201, review.content
    assert (review.json()["kind"], review.json()["income_per_head"]) == ("review", "0.00")
    assert clerk.get(API + f"archive-entries/{admitted.pk}/").json()["tier"] == "deep"
    approved(approver, review.json()["id"])
    entry = clerk.get(API + f"archive-entries/{admitted.pk}/").json()
    assert (entry["tier"], entry["income_per_head"], entry["checked_on"]) == ("relative", "0.00", "2023-01-05")

    close = clerk.post(API + f"archive-entries/{admitted.pk}/close/", {"close_reason": "moved"}, format="json")
    approved(approver, close.json()["id"])
    reopen = clerk.post(
        API + f"archive-entries/{admitted.pk}/reopen/", {**FIGURES, "reopened_on": "2023-03-01"}, format="json"
    )
    assert reopen.status_code == 201, reopen.content
    approved(approver, reopen.json()["id"])
    entry = clerk.get(API + f"archive-entries/{admitted.pk}/").json()
    assert (entry["status"], entry["reopened_on"], entry["close_reason"]) == ("open", "2023-03-01", "")


@pytest.mark.django_db
def test_a_list_of_1000_with_3_people_outside_the_archive_gives_3_row_errors_and_writes_nothing(
    tree, alice, bob, hardship_fund
):
    people_ = [(f"职工{n}", numbered_id(n)) for n in range(1000)]
    for name, number in people_[:997]:
        house = archive.household_file(
            federation=tree["chengzhong"],
            members=[archive.MemberLine(people.person_line(name=name, id_number=number), "head")],
            by=alice,
        )
        change = archive.archive_open(
            household=house,
            figures=archive.Figures(tier="deep", income_per_head="500", causes=("illness",)),
            valid_from=datetime.date(2022, 1, 1),
            by=alice,
        )
        archive.archive_change_approve(change=change, by=bob)
    before = (Disbursement.objects.count(), Beneficiary.objects.count(), AuditEvent.objects.count())
    body = {
        "fund": hardship_fund.pk,
        "assistance_type": "living",
        "date": "2022-04-20",
        "rows": [{"name": name, "id_number": number, "amount": "500.00"} for name, number in people_],
    }
    response = client_for(alice, language="en").post(API + "disbursements/bulk/", body, format="json")
    assert response.status_code == 409, response.content
    errors = response.json()["errors"]
    assert [(e["row"], e["field"], e["code"]) for e in errors] == [
        (row, "id_number", "not_in_archive") for row in (998, 999, 1000)
    ]
    assert errors[0]["message"].startswith("职工997 is not in an open hardship archive entry on 2022-04-20")
    assert (Disbursement.objects.count(), Beneficiary.objects.count(), AuditEvent.objects.count()) == before
    assert PolicyUsage.objects.count() == 0 and not IdempotencyKey.objects.exists()
    hardship_fund.refresh_from_db()
    assert hardship_fund.reserved == 0


@pytest.mark.django_db
def test_a_hardship_fund_refuses_a_unit_as_a_bad_request(alice, hardship_fund, hospital):
    body = {"fund": hardship_fund.pk, "unit": hospital.pk, "assistance_type": "medical", "amount": "100"}
    response = client_for(alice).post(API + "disbursements/", body, format="json")
    assert (response.status_code, codes(response)) == (400, ["archive_needs_person"])
    assert response.json()["errors"][0]["field"] == "unit"


# Maker and checker ----------------------------------------------------------------------


@pytest.mark.django_db
def test_the_clerk_cannot_approve_her_own_filing_and_only_she_may_withdraw_it(tree, alice, bob):
    clerk, approver = client_for(alice), client_for(bob)
    house = filed(clerk, tree["chengzhong"], (*HEAD, "head"))
    change_id = filing(clerk, house["id"])["pending_change"]["id"]
    own = clerk.post(API + f"archive-changes/{change_id}/approve/")
    assert (own.status_code, codes(own)) == (403, ["maker_cannot_approve"])
    others = approver.post(API + f"archive-changes/{change_id}/withdraw/")
    assert (others.status_code, codes(others)) == (403, ["permission_denied"])
    again = clerk.post(
        API + "archive-entries/", {"household": house["id"], "valid_from": "2022-01-01", **FIGURES}, format="json"
    )
    assert (again.status_code, codes(again)) == (409, ["archive_exists"])

    withdrawn = clerk.post(API + f"archive-changes/{change_id}/withdraw/")
    assert (withdrawn.status_code, withdrawn.json()["status"], withdrawn.json()["decided_by"]) == (
        200,
        "withdrawn",
        "alice",
    )
    assert ArchiveEntry.objects.get().status == "rejected"
    late = approver.post(API + f"archive-changes/{change_id}/approve/")
    assert (late.status_code, codes(late)) == (409, ["not_pending"])
    refiled = filing(clerk, house["id"])  # a withdrawn filing leaves the household free to file again
    rejected = approver.post(
        API + f"archive-changes/{refiled['pending_change']['id']}/reject/", {"reason": "收入超标"}, format="json"
    )
    assert (rejected.json()["status"], rejected.json()["decision_note"]) == ("rejected", "收入超标")
    no_reason = approver.post(API + f"archive-changes/{change_id}/reject/", {}, format="json")
    assert (no_reason.status_code, codes(no_reason)) == (400, ["required"])


@pytest.mark.django_db
def test_an_entry_refuses_what_its_state_does_not_allow_with_409(tree, alice, bob, dave, admitted):
    clerk = client_for(alice)
    entry = f"archive-entries/{admitted.pk}/"
    reopen = clerk.post(API + entry + "reopen/", FIGURES, format="json")
    assert (reopen.status_code, codes(reopen)) == (409, ["not_closed"])
    clerk.post(API + entry + "review/", FIGURES, format="json")
    waiting = clerk.post(API + entry + "close/", {"close_reason": "retired"}, format="json")
    assert (waiting.status_code, codes(waiting)) == (409, ["change_waiting"])
    # 王大明 is in an open entry here: no household elsewhere opens with him in it.
    other = filed(client_for(dave), tree["chengdong"], ("王大明", synthetic_id(11), "head"))
    refused = client_for(dave).post(
        API + "archive-entries/", {"household": other["id"], "valid_from": "2022-03-01", **FIGURES}, format="json"
    )
    assert (refused.status_code, codes(refused)) == (409, ["in_open_household"])
    assert "王大明" not in refused.json()["message"]
    assert not ArchiveEntry.objects.filter(household_id=other["id"]).exists()


@pytest.mark.django_db
def test_roles_the_archive_asks_for(tree, alice, bob, carol, admitted):
    auditor = client_for(carol)
    body = household_body(tree["chengzhong"], ("赵六", synthetic_id(40), "head"))
    for client in (client_for(bob), auditor):
        response = client.post(API + "households/", body, format="json")
        assert (response.status_code, codes(response)) == (403, ["permission_denied"])
    review = auditor.post(API + f"archive-entries/{admitted.pk}/review/", FIGURES, format="json")
    assert (review.status_code, codes(review)) == (403, ["permission_denied"])
    assert not Household.objects.filter(members__name="赵六").exists()
    assert auditor.get(API + f"archive-entries/{admitted.pk}/").status_code == 200


# The subtree ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_neighbours_household_entry_and_change_do_not_exist_for_her(tree, alice, bob, dave, admitted):
    review = client_for(alice).post(API + f"archive-entries/{admitted.pk}/review/", FIGURES, format="json").json()
    neighbour = client_for(dave)
    house = admitted.household_id
    for path in (
        f"households/{house}/",
        f"archive-entries/{admitted.pk}/",
        f"archive-changes/{review['id']}/",
    ):
        assert neighbour.get(API + path).status_code == 404, path
    for path in ("close/", "review/", "reopen/"):
        response = neighbour.post(API + f"archive-entries/{admitted.pk}/{path}", {"close_reason": "moved", **FIGURES})
        assert response.status_code == 404, path
    for verb in ("approve", "reject", "withdraw"):
        assert neighbour.post(API + f"archive-changes/{review['id']}/{verb}/", {"reason": "x"}).status_code == 404
    in_body = neighbour.post(
        API + "archive-entries/", {"household": house, "valid_from": "2022-01-01", **FIGURES}, format="json"
    )
    assert (in_body.status_code, in_body.json()["errors"][0]["field"]) == (404, "household")
    for resource in ("households", "archive-entries", "archive-changes"):
        listed = neighbour.get(API + f"{resource}/").json()
        assert listed["results"] == [], resource
        by_filter = neighbour.get(API + f"{resource}/", {"federation": tree["chengzhong"].pk}).json()
        assert by_filter["results"] == [], resource
    found = neighbour.get(API + "households/", {"id_number": HEAD[1]}).json()
    assert found["results"] == []
    assert ArchiveChange.objects.get(pk=review["id"]).status == "pending"


# Numbers as filed, masked ------------------------------------------------------------------


@pytest.mark.django_db
def test_members_are_shown_by_the_name_as_filed_and_masked_unless_one_may_see_them(
    tree, alice, bob, carol, dave, neighbours_worker
):
    house = filed(
        client_for(alice),
        tree["chengzhong"],
        (*HEAD, "head"),
        ("李思", neighbours_worker.id_number, "spouse"),  # registered next door as 李四
    )
    seen_by_alice = client_for(alice).get(API + f"households/{house['id']}/").json()
    assert [(m["name"], m["id_number"]) for m in seen_by_alice["members"]] == [
        ("王大明", HEAD[1]),  # her county's person: in full, and recorded
        ("李思", idnumber.mask(neighbours_worker.id_number)),
    ]
    assert "李四" not in str(seen_by_alice)
    masked = client_for(bob).get(API + "households/").json()["results"][0]["members"]
    assert [m["id_number"] for m in masked] == [idnumber.mask(HEAD[1]), idnumber.mask(neighbours_worker.id_number)]
    full = client_for(carol).get(API + "households/", {"id_number": neighbours_worker.id_number}).json()["results"]
    assert [m["id_number"] for m in full[0]["members"]] == [HEAD[1], neighbours_worker.id_number]
    shown = AuditEvent.objects.filter(action="beneficiary.id_number_shown")
    assert sorted(shown.values_list("user__username", flat=True)) == ["alice", "carol", "carol"]
    assert (
        client_for(alice).get(API + "households/", {"id_number": neighbours_worker.id_number}).json()["results"] == []
    )  # a number alice may not see in full finds nothing


# Hostile input --------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "income",
    ["６５０", "650.001", "-1", "1e3", "99999999999999999999", 10**30, "NaN", "", None, True, "65\x000"],
)
def test_an_income_that_is_no_amount_is_a_clear_400(tree, alice, income):
    house = filed(client_for(alice), tree["chengzhong"], (*HEAD, "head"))
    body = {"household": house["id"], "valid_from": "2022-01-01", **FIGURES, "income_per_head": income}
    response = client_for(alice, language="en").post(API + "archive-entries/", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["field"] == "income_per_head"
    assert not ArchiveEntry.objects.exists()


@pytest.mark.django_db
def test_an_odd_income_is_refused_in_the_users_language(tree, alice):
    house = filed(client_for(alice), tree["chengzhong"], (*HEAD, "head"))
    body = {"household": house["id"], "valid_from": "2022-01-01", **FIGURES, "income_per_head": "５２０"}
    response = client_for(alice).post(API + "archive-entries/", body, format="json")
    with translation.override("zh-hans"):
        message = str(archive.INVALID_INCOME)
    assert "元" in message
    assert response.json()["errors"] == [
        {"code": "invalid_amount", "message": message, "field": "income_per_head", "row": None}
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("members", "expected"),
    [
        ([], [(None, "members", "empty")]),
        ([("王\x00大明", HEAD[1], "head")], [(1, "name", "null_characters_not_allowed")]),
        ([("王大明", HEAD[1][:-1] + "0", "head")], [(1, "id_number", "invalid_id_number")]),
        ([("王大明", "６３０１０３１９８００５１７００１１", "head")], [(1, "id_number", "invalid_id_number")]),
        ([("王大明", HEAD[1], "head"), ("李秀英", synthetic_id(12), "head")], [(None, "relation", "one_head")]),
        ([("王大明", HEAD[1], "head"), ("王大明", HEAD[1], "child")], [(2, "id_number", "member_twice")]),
        ([("王大明", HEAD[1], "boss")], [(1, "relation", "invalid_choice")]),
        ([("王大明" * 20, HEAD[1], "head")], [(1, "name", "max_length")]),
    ],
)
def test_a_household_with_bad_members_is_refused_row_by_row_and_nothing_is_written(tree, alice, members, expected):
    before = (Household.objects.count(), Beneficiary.objects.count(), AuditEvent.objects.count())
    body = household_body(tree["chengzhong"], *members)
    response = client_for(alice).post(API + "households/", body, format="json")
    assert response.status_code == 400, response.content
    assert [(e["row"], e["field"], e["code"]) for e in response.json()["errors"]] == expected
    assert (Household.objects.count(), Beneficiary.objects.count(), AuditEvent.objects.count()) == before


@pytest.mark.django_db
def test_hostile_texts_dates_ids_and_lists_get_a_400_or_404_never_a_500(tree, alice, admitted):
    clerk = client_for(alice)
    entry = f"archive-entries/{admitted.pk}/"
    cases = [
        ("households/", household_body(tree["chengzhong"], (*HEAD, "head"), address="幸福路\x001号"), 400),
        ("households/", {**household_body(tree["chengzhong"]), "members": [{"name": "x"}] * 31}, 400),
        ("households/", {**household_body(tree["chengzhong"], (*HEAD, "head")), "federation": 2**70}, 404),
        (entry + "review/", {**FIGURES, "causes": ["astronaut"]}, 400),
        (entry + "review/", {**FIGURES, "causes": []}, 400),
        (entry + "review/", {**FIGURES, "reviewed_on": "2022-13-45"}, 400),
        (entry + "review/", {**FIGURES, "reviewed_on": "1900-01-01"}, 400),
        (entry + "review/", {**FIGURES, "note": "见\u202e附件"}, 400),
        (entry + "close/", {"close_reason": "bored"}, 400),
        ("archive-entries/", {"household": "１", "valid_from": "2022-01-01", **FIGURES}, 400),
        ("dibao-lines/", {"federation": tree["chengzhong"].pk, "year": 2022, "monthly": "８４０"}, 400),
        ("dibao-lines/", {"federation": tree["chengzhong"].pk, "year": 99999, "monthly": "840"}, 400),
        ("dibao-lines/", {"federation": tree["chengzhong"].pk, "year": 2022, "monthly": 10**40}, 400),
    ]
    for path, body, expected in cases:
        response = clerk.post(API + path, body, format="json")
        assert response.status_code == expected, (path, body, response.content)
        assert response.json()["message"], path
    assert clerk.get(API + "archive-entries/", {"due_for_review": "\x00"}).status_code == 400
    unsure = clerk.get(API + "archive-entries/", {"never_helped": "yes"})
    assert (unsure.status_code, unsure.json()["errors"][0]["field"]) == (400, "never_helped")
    assert clerk.get(API + "archive-changes/", {"entry": "9" * 40}).status_code == 400
    assert clerk.get(API + "households/99999999999999999999/").status_code == 404
    assert Household.objects.count() == 1 and not DibaoLine.objects.exists()


# Review lists ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_review_lists_filter_the_entries(tree, alice, bob, admitted, hardship_fund, settings):
    clerk = client_for(alice)

    def listed(**query) -> list[int]:
        return [entry["id"] for entry in clerk.get(API + "archive-entries/", query).json()["results"]]

    assert listed(due_for_review="true") == [admitted.pk]  # checked 2022-01-01, more than a year ago
    assert listed(due_for_review="false") == []
    assert listed(never_helped="true") == [admitted.pk]
    paid = clerk.post(
        API + "disbursements/",
        {"fund": hardship_fund.pk, "person": {"name": HEAD[0], "id_number": HEAD[1]}, "assistance_type": "living"}
        | {"amount": "300", "date": "2022-04-20"},
        format="json",
    )
    client_for(bob).post(API + f"disbursements/{paid.json()['id']}/approve/")
    assert listed(never_helped="true") == [] and listed(never_helped="false") == [admitted.pk]
    assert listed(follow_up="true") == []
    close = clerk.post(
        API + f"archive-entries/{admitted.pk}/close/", {"close_reason": "out_of_hardship"}, format="json"
    )
    approved(client_for(bob), close.json()["id"])
    assert listed(follow_up="true") == [admitted.pk] and listed(due_for_review="true") == []
    assert listed(status="closed", tier="deep", federation=tree["chengzhong"].pk) == [admitted.pk]
    assert listed(federation=tree["xining"].pk) == []  # above her: as if it did not exist
    assert listed(status="open") == []


# 低保 lines and policy rules -------------------------------------------------------------------


@pytest.mark.django_db
def test_a_clerk_sets_the_dibao_line_and_corrects_it(tree, alice, dave):
    clerk = client_for(alice)
    body = {"federation": tree["chengzhong"].pk, "year": 2022, "monthly": "840"}
    first = clerk.post(API + "dibao-lines/", body, format="json")
    assert (first.status_code, first.json()["monthly"]) == (201, "840.00")
    corrected = clerk.post(API + "dibao-lines/", {**body, "monthly": "860.50"}, format="json")
    assert (corrected.status_code, corrected.json()["id"], corrected.json()["monthly"]) == (
        200,
        first.json()["id"],
        "860.50",
    )
    DibaoLine.objects.create(federation=tree["xining"], year=2022, monthly=Decimal("900.00"))
    DibaoLine.objects.create(federation=tree["chengdong"], year=2022, monthly=Decimal("777.00"))
    lines = clerk.get(API + "dibao-lines/").json()["results"]
    assert sorted((line["federation"], line["monthly"]) for line in lines) == sorted(
        [(tree["chengzhong"].pk, "860.50"), (tree["xining"].pk, "900.00")]  # her own, and the city's above her
    )
    refused = client_for(dave).post(API + "dibao-lines/", body, format="json")
    assert refused.status_code == 404


@pytest.fixture
def autumn_aid(tree, admin_user):
    """青海: 金秋助学 once a year per child, whoever pays; an approver may override."""
    return PolicyRule.objects.create(
        federation=tree["qinghai"],
        name="金秋助学",
        purpose="education",
        scope=RuleScope.PERSON,
        once_per_year=True,
        overridable=True,
        created_by=admin_user,
    )


@pytest.mark.django_db
def test_a_rule_is_read_by_those_it_binds_and_written_by_its_admin(tree, alice, dave, admin_user, autumn_aid):
    county_rule = PolicyRule.objects.create(
        federation=tree["chengdong"], name="城东慰问", purpose="warmth", created_by=admin_user
    )
    seen = client_for(alice).get(API + "policy-rules/").json()["results"]
    assert [rule["name"] for rule in seen] == ["金秋助学"]  # set above her; not the neighbour's
    assert client_for(alice).get(API + f"policy-rules/{county_rule.pk}/").status_code == 404
    body = {"federation": tree["chengzhong"].pk, "name": "生活救助上限", "purpose": "hardship"}
    body |= {"assistance_type": "living", "cap_dibao_months": "12"}
    by_clerk = client_for(alice).post(API + "policy-rules/", body, format="json")
    assert (by_clerk.status_code, codes(by_clerk)) == (403, ["permission_denied"])
    created = client_for(admin_user).post(API + "policy-rules/", body, format="json")
    assert created.status_code == 201, created.content
    rule = created.json()
    assert (rule["cap_dibao_months"], rule["cap_amount"], rule["scope"], rule["created_by"]) == (
        "12.00",
        None,
        "household",
        "erin",
    )
    both = client_for(admin_user).patch(API + f"policy-rules/{rule['id']}/", {"cap_amount": "9000"}, format="json")
    assert (both.status_code, codes(both)) == (400, ["one_cap"])
    changed = client_for(admin_user).patch(
        API + f"policy-rules/{rule['id']}/", {"cap_amount": "9000", "cap_dibao_months": None}, format="json"
    )
    assert (changed.status_code, changed.json()["cap_amount"], changed.json()["name"]) == (
        200,
        "9000.00",
        "生活救助上限",
    )
    scope = client_for(admin_user).patch(API + f"policy-rules/{rule['id']}/", {"scope": "person"}, format="json")
    assert (scope.status_code, codes(scope)) == (400, ["scope_fixed"])
    odd = client_for(admin_user).patch(
        API + f"policy-rules/{rule['id']}/", {"cap_amount": None, "cap_dibao_months": "１２"}, format="json"
    )
    assert (odd.status_code, odd.json()["errors"][0]["field"]) == (400, "cap_dibao_months")
    assert PolicyRule.objects.get(pk=rule["id"]).cap_amount == Decimal("9000.00")


@pytest.mark.django_db
def test_an_override_reason_lets_a_payment_past_an_overridable_rule_single_and_in_a_list(tree, alice, bob, autumn_aid):
    fund = FundFactory(federation=tree["chengzhong"], name="金秋助学", purpose="education", by=alice)
    approved_contribution(fund, "50000", by=alice, approver=bob)
    child = {"name": "王小明", "id_number": synthetic_id(13, birth=datetime.date(2005, 3, 1))}
    clerk = client_for(alice, language="en")
    single = {"fund": fund.pk, "person": child, "assistance_type": "education", "amount": "1000"}
    first = clerk.post(API + "disbursements/", {**single, "date": "2022-08-20"}, format="json")
    assert first.status_code == 201, first.content
    again = clerk.post(API + "disbursements/", {**single, "date": "2022-09-01"}, format="json")
    assert (again.status_code, codes(again), again.json()["errors"][0]["field"]) == (409, ["once_per_year"], "amount")
    assert "金秋助学" in again.json()["message"] and "2022" in again.json()["message"]
    overridden = clerk.post(
        API + "disbursements/",
        {**single, "date": "2022-09-02", "override_reason": "因灾返贫，经审批增发"},
        format="json",
    )
    assert overridden.status_code == 201, overridden.content
    assert overridden.json()["policy_override"] == "因灾返贫，经审批增发" and "override_reason" not in overridden.json()

    # Twice in one list, as a clerk may pay two terms at once: confirmed as no mistake.
    rows = [{**child, "amount": "500"}, {**child, "amount": "500", "override_reason": "第二学期"}]
    rows = [{**row, "confirm_duplicate": True} for row in rows]
    body = {"fund": fund.pk, "assistance_type": "education", "date": "2022-10-01", "rows": rows}
    listed = clerk.post(API + "disbursements/bulk/", body, format="json")
    assert (listed.status_code, [(e["row"], e["code"]) for e in listed.json()["errors"]]) == (
        409,
        [(1, "once_per_year")],
    )
    body["rows"][0]["override_reason"] = "第一学期"
    assert clerk.post(API + "disbursements/bulk/", body, format="json").status_code == 201
    assert sorted(Disbursement.objects.exclude(policy_override="").values_list("policy_override", flat=True)) == [
        "因灾返贫，经审批增发",
        "第一学期",
        "第二学期",
    ]


@pytest.mark.django_db
def test_a_cap_refusal_names_the_rule_and_the_room_left(tree, alice, admin_user, admitted, hardship_fund):
    DibaoLine.objects.create(federation=tree["xining"], year=2022, monthly=Decimal("840.00"))
    PolicyRule.objects.create(
        federation=tree["qinghai"],
        name="生活救助",
        purpose="hardship",
        assistance_type="living",
        cap_dibao_months=Decimal("12"),
        created_by=admin_user,
    )
    body = {
        "fund": hardship_fund.pk,
        "assistance_type": "living",
        "date": "2022-04-20",
        "rows": [
            {"name": HEAD[0], "id_number": HEAD[1], "amount": "9600"},
            {"name": "李秀英", "id_number": synthetic_id(12), "amount": "500"},
        ],
    }
    response = client_for(alice).post(API + "disbursements/bulk/", body, format="json")
    assert response.status_code == 409
    assert response.json()["errors"] == [
        {
            "code": "cap_exceeded",
            "message": "生活救助：本户2022年已领 9,600.00 元，上限 10,080.00 元，还可领 480.00 元。",
            "field": "amount",
            "row": 2,
        }
    ]
    assert not Disbursement.objects.exists()


@pytest.mark.django_db
def test_a_fund_says_whether_it_pays_archived_households_only(tree, alice):
    clerk = client_for(alice)
    body = {"federation": tree["chengzhong"].pk, "name": "困难职工帮扶资金", "fiscal_year": 2022}
    hardship = clerk.post(API + "funds/", {**body, "purpose": "hardship"}, format="json").json()
    warmth = clerk.post(API + "funds/", {**body, "purpose": "warmth", "name": "送温暖"}, format="json").json()
    opted = clerk.post(
        API + "funds/", {**body, "purpose": "hardship", "name": "临时救助", "requires_archive": False}, format="json"
    ).json()
    assert (hardship["requires_archive"], warmth["requires_archive"], opted["requires_archive"]) == (True, False, False)


# Idempotency ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_retried_filing_with_its_key_files_once(tree, alice):
    clerk = client_for(alice)
    body = household_body(tree["chengzhong"], (*HEAD, "head"))
    first = clerk.post(API + "households/", body, format="json", HTTP_IDEMPOTENCY_KEY="wang-2022")
    again = clerk.post(API + "households/", body, format="json", HTTP_IDEMPOTENCY_KEY="wang-2022")
    assert (first.status_code, again.status_code, again.headers["Idempotent-Replayed"]) == (201, 201, "true")
    assert again.json() == first.json() and Household.objects.count() == 1
    entry = {"household": first.json()["id"], "valid_from": "2022-01-01", **FIGURES}
    filed_once = clerk.post(API + "archive-entries/", entry, format="json", HTTP_IDEMPOTENCY_KEY="wang-open")
    replayed = clerk.post(API + "archive-entries/", entry, format="json", HTTP_IDEMPOTENCY_KEY="wang-open")
    assert replayed.json() == filed_once.json() and ArchiveChange.objects.count() == 1
    other = clerk.post(
        API + "archive-entries/", {**entry, "tier": "relative"}, format="json", HTTP_IDEMPOTENCY_KEY="wang-open"
    )
    assert (other.status_code, codes(other)) == (409, ["idempotency_conflict"])
    assert HouseholdMember.objects.count() == 1
