"""Money is exact: Decimal yuan in Python, integer fen in the database."""

from decimal import Decimal

import pytest

from allocations import services as money
from allocations.models import Contribution
from unionfunds.money import money_sum, to_yuan


@pytest.mark.parametrize(("text", "yuan"), [("1000", "1000.00"), ("0.1", "0.10"), ("1,234.5", "1234.50")])
def test_amounts_parse_exactly(text, yuan):
    assert to_yuan(text) == Decimal(yuan)


@pytest.mark.parametrize("bad", ["1.005", "abc", "Infinity", ""])
def test_a_third_decimal_or_garbage_is_refused(bad):
    with pytest.raises(ValueError):
        to_yuan(bad)


def test_floats_are_refused():
    with pytest.raises(TypeError):
        to_yuan(0.1)


@pytest.mark.django_db
def test_a_thousand_dimes_and_twenty_fens_sum_exactly(tree, alice, bob, fund):
    # SQLite sums floating-point DECIMAL columns as floats; integer fen do not drift.
    for amount in ["0.10", "0.20"] * 500:
        Contribution.objects.create(fund=fund, source="donation", amount=Decimal(amount), created_by=alice)
    total = Contribution.objects.filter(source="donation").aggregate(total=money_sum("amount"))["total"]
    assert total == Decimal("150.00")
    assert isinstance(total, Decimal)
    assert Contribution.objects.filter(source="government").aggregate(total=money_sum("amount"))["total"] == Decimal(
        "0.00"
    )


@pytest.mark.django_db
def test_amounts_round_trip_through_the_database(fund, alice):
    contribution = money.contribution_create(fund=fund, source="donation", amount="123456789012.34", by=alice)
    contribution.refresh_from_db()
    assert contribution.amount == Decimal("123456789012.34")
    assert Contribution.objects.filter(amount__gt=Decimal("123456789012.33")).get() == contribution
