"""Real-name means real: resident ID numbers are checked by docs/DOMAIN.md's rule 3."""

import datetime

import pytest
from django.core.exceptions import ValidationError

from allocations import services as money
from beneficiaries import idnumber
from beneficiaries import services as people
from beneficiaries.models import Beneficiary
from tests.conftest import synthetic_id
from tests.factories import FundFactory
from unionfunds.models import AuditEvent

# Published example numbers (GB 11643 worked examples); they pass the checksum.
VALID = ["11010519491231002X", "440524188001010014"]


@pytest.mark.parametrize("number", VALID)
def test_valid_numbers_pass(number):
    assert idnumber.parse(number).number == number


def test_a_lower_case_x_and_spaces_are_accepted():
    assert idnumber.parse(" 11010519491231002x ").number == "11010519491231002X"


def test_a_retired_area_code_is_not_refused():
    # 630103 城中区 of 西宁 for someone born in 1970: python-stdnum's own validate
    # refuses it (its issue #442); the rule only asks for a province code.
    number = synthetic_id(15, area="630103", birth=datetime.date(1970, 3, 3))
    assert idnumber.parse(number).birth_date == datetime.date(1970, 3, 3)


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("11010519491231002", idnumber.WRONG_LENGTH),
        ("1101051949123100AX", idnumber.WRONG_CHARACTERS),
        ("110105194912310021", idnumber.WRONG_CHECK_CHARACTER),
        ("990105194912310027", idnumber.NOT_A_PROVINCE),
        ("110105194902300025", idnumber.NOT_A_DATE),
    ],
)
def test_bad_numbers_are_refused_with_the_reason(number, reason):
    with pytest.raises(ValidationError) as refused:
        idnumber.parse(number)
    assert refused.value.code == "invalid_id_number"
    assert str(reason) in refused.value.messages[0]


def test_a_birth_date_in_the_future_is_refused():
    number = idnumber.build("630103", datetime.date(2030, 1, 1), 11)
    with pytest.raises(ValidationError) as refused:
        idnumber.parse(number, today=datetime.date(2026, 11, 22))
    assert str(idnumber.FUTURE_BIRTH_DATE) in refused.value.messages[0]


def test_gender_and_birth_date_come_from_the_number():
    man = idnumber.parse(idnumber.build("630103", datetime.date(1985, 7, 9), 13))
    woman = idnumber.parse(idnumber.build("630103", datetime.date(1990, 1, 2), 24))
    assert (man.gender, man.birth_date) == ("male", datetime.date(1985, 7, 9))
    assert woman.gender == "female"


def test_masking_keeps_the_area_prefix_and_the_last_four():
    assert idnumber.mask("63010319801234123X") == "6301**********123X"


@pytest.mark.django_db
def test_registering_derives_and_records(tree, alice):
    number = synthetic_id(7, birth=datetime.date(1979, 12, 1))
    person = people.beneficiary_register(
        name=" 李四 ",
        id_number=number.lower(),
        federation=tree["chengzhong"],
        phone="13900000000",
        categories=["model_worker", "migrant_worker"],
        by=alice,
    )
    person.refresh_from_db()
    assert (person.name, person.id_number, person.gender, person.birth_date) == (
        "李四",
        number,
        "male",
        datetime.date(1979, 12, 1),
    )
    assert {c.code for c in person.categories.all()} == {"model_worker", "migrant_worker"}
    event = AuditEvent.objects.get(action="beneficiary.registered")
    assert event.user == alice and event.changes["name"]["after"] == "李四"


@pytest.mark.django_db
def test_a_bad_number_registers_nothing(tree, alice):
    with pytest.raises(ValidationError) as refused:
        people.beneficiary_register(
            name="王五", id_number="110105194912310021", federation=tree["chengzhong"], by=alice
        )
    assert refused.value.code == "invalid_id_number"
    assert Beneficiary.objects.count() == 0
    assert not AuditEvent.objects.filter(action="beneficiary.registered").exists()


@pytest.mark.django_db
def test_one_person_is_registered_once(tree, alice, worker):
    with pytest.raises(ValidationError) as refused:
        people.beneficiary_register(name="张三", id_number=worker.id_number, federation=tree["chengzhong"], by=alice)
    assert refused.value.error_dict["id_number"][0].code == "already_registered"
    assert Beneficiary.objects.count() == 1


@pytest.mark.django_db
def test_unknown_categories_are_refused(tree, alice):
    with pytest.raises(ValidationError):
        people.beneficiary_register(
            name="赵六", id_number=synthetic_id(9), federation=tree["chengzhong"], categories=["vip"], by=alice
        )
    assert Beneficiary.objects.count() == 0


@pytest.mark.django_db
def test_an_edit_is_audited_and_the_id_number_cannot_change(tree, alice, worker):
    people.beneficiary_update(beneficiary=worker, by=alice, phone="13811112222", categories=["model_worker"])
    event = AuditEvent.objects.get(action="beneficiary.edited")
    assert event.changes["phone"] == {"before": "", "after": "138****2222"}  # the trail keeps phones masked
    with pytest.raises(ValueError):
        people.beneficiary_update(beneficiary=worker, by=alice, id_number=synthetic_id(2))


@pytest.mark.django_db
def test_a_payment_by_id_number_finds_the_person_or_registers_them_and_refuses_a_wrong_name(
    tree, alice, dave, worker, rich_fund
):
    def pay(name, id_number, by=alice, fund=rich_fund):
        return money.disbursement_create(
            fund=fund,
            person=people.person_line(name=name, id_number=id_number),
            assistance_type="living",
            amount="100.00",
            by=by,
        )

    assert pay("张三", worker.id_number).beneficiary == worker
    new = pay("孙八", synthetic_id(8)).beneficiary
    assert (new.name, new.federation) == ("孙八", tree["chengzhong"])
    registered = AuditEvent.objects.get(action="beneficiary.registered", object_id=new.pk)
    assert registered.changes["id_number"]["after"] == idnumber.mask(synthetic_id(8))
    dave_fund = FundFactory(federation=tree["chengdong"], name="城东区专项", purpose="other", by=dave)
    # dave may not see 城中区's people: he is told nothing of them (his empty fund refuses the amount).
    with pytest.raises(ValidationError) as refused:
        pay("李四", worker.id_number, by=dave, fund=dave_fund)
    assert set(refused.value.error_dict) == {"amount"} and "张三" not in str(refused.value)
    with pytest.raises(ValidationError) as bad:
        people.person_line(name="周九", id_number="110105194912310021")
    assert "id_number" in bad.value.error_dict
    assert Beneficiary.objects.count() == 2
