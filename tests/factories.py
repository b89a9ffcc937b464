"""Model factories of the tests (factory_boy).

Each builds through the services, as the site does, so that what a factory
makes carries its checks, its masks and its audit lines: `_create` calls the
service instead of saving the model. Money never moves in a factory: a fund
starts empty, and `approved_contribution` pays into one the only way money
comes in, a contribution and then its approval.

Defaults are numbered, not drawn at random, so that a failing test fails the
same way on the next run; a test that checks a value passes it.
"""

import datetime
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from factory.django import DjangoModelFactory

from allocations import services as money
from allocations.models import Contribution, Fund
from beneficiaries import idnumber
from beneficiaries import services as people
from beneficiaries.models import Beneficiary, Unit
from unionfunds.models import Federation, Level, Role
from unionfunds.services import federation_create, membership_grant


class FederationFactory(DjangoModelFactory):
    """A grassroots union under `parent`; without one, a root of its own."""

    class Meta:
        model = Federation

    parent = None
    code = factory.Sequence(lambda n: f"T{n:05d}")
    name = factory.Sequence(lambda n: f"第{n}工会")
    level = factory.LazyAttribute(lambda o: Level.GRASSROOTS if o.parent else Level.NATIONAL)

    @classmethod
    def _create(cls, model_class, **fields):
        return federation_create(**fields)


class UserFactory(DjangoModelFactory):
    """A user holding `roles` at `federation`, granted as an administrator grants
    them; her password is "pw-" followed by her username."""

    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"user{n}")
    federation = factory.SubFactory(FederationFactory)
    roles = (Role.CLERK,)

    @classmethod
    def _create(cls, model_class, *, username, federation, roles):
        if not roles:
            raise ValueError("a user of the tests holds at least one role")
        for role in roles:
            membership = membership_grant(
                username=username, federation=federation, role=role, password="pw-" + username
            )
        return membership.user


def clerk_of(federation: Federation):
    """The one clerk the factories make for a federation when a test names none."""
    return UserFactory(username=f"clerk-{federation.code}", federation=federation, roles=(Role.CLERK,))


class FundFactory(DjangoModelFactory):
    """An empty fund; unless told otherwise, a 2022 pandemic fund (疫情防控专项资金),
    the fund most of the suite pays from."""

    class Meta:
        model = Fund

    federation = factory.SubFactory(FederationFactory)
    name = "疫情防控专项资金"
    purpose = "pandemic"
    fiscal_year = 2022
    by = factory.LazyAttribute(lambda o: clerk_of(o.federation))

    @classmethod
    def _create(cls, model_class, **fields):
        return money.fund_create(**fields)


def approved_contribution(
    fund: Fund, amount: Decimal | str, *, by, approver, source: str = "own_funds", **details
) -> Contribution:
    """Money into `fund` the only way it comes in: a contribution, then its approval."""
    contribution = money.contribution_create(fund=fund, source=source, amount=amount, by=by, **details)
    return money.movement_approve(movement=contribution, by=approver)


def numbered_id(n: int) -> str:
    """A valid ID number per `n`, born in 1990 or later: never one of conftest's
    `synthetic_id`s (all born on 1980-05-17), which tests spell out."""
    return idnumber.build("630103", datetime.date(1990, 1, 1) + datetime.timedelta(days=n // 1000), n % 1000)


class BeneficiaryFactory(DjangoModelFactory):
    """A person registered by real name, as a clerk registers one."""

    class Meta:
        model = Beneficiary

    federation = factory.SubFactory(FederationFactory)
    name = factory.Sequence(lambda n: f"职工{n}")
    id_number = factory.Sequence(numbered_id)
    phone = ""
    employer = ""
    categories = ()
    by = factory.LazyAttribute(lambda o: clerk_of(o.federation))

    @classmethod
    def _create(cls, model_class, **fields):
        return people.beneficiary_register(**fields)


class UnitFactory(DjangoModelFactory):
    """A unit paid instead of a person: a hospital unless told otherwise."""

    class Meta:
        model = Unit

    federation = factory.SubFactory(FederationFactory)
    name = factory.Sequence(lambda n: f"第{n}医院")
    kind = "hospital"
    by = factory.LazyAttribute(lambda o: clerk_of(o.federation))

    @classmethod
    def _create(cls, model_class, **fields):
        return people.unit_create(**fields)
