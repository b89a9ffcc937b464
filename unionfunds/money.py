"""Money: `Decimal` yuan in Python, integer fen in the database.

SQLite keeps DecimalField values as floating point and sums them as floats, so a
long column of cent amounts drifts. Integer fen are exact on every database, and
the field below converts at the edge so that the rest of the code only sees
`Decimal` yuan with two places.
"""

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django import forms
from django.core import checks, exceptions
from django.db import models
from django.db.models import Q, Sum, Value
from django.db.models.expressions import (  # type: ignore[attr-defined]  # public since Django 4.2, not in the stubs
    Combinable,
    register_combinable_fields,
)
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from unionfunds.errors import refuse

INVALID_AMOUNT = _("Enter an amount in yuan, more than zero, with at most two decimal places.")
AMOUNT_TOO_LARGE = _("An amount is at most 999,999,999,999.99 yuan.")

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
MAX_DIGITS = 14


# What an amount looks like as text: ASCII digits, an optional sign and point, and
# no exponent, underscore or other script's digits, all of which Decimal() would
# take (1e3, 1_000, full-width １０００, Arabic-Indic ١٠٠٠).
AMOUNT_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
# One entry's amount: yuan with two places in MAX_DIGITS digits, 999,999,999,999.99 at most.
LARGEST = Decimal(10) ** (MAX_DIGITS - 2) - CENT
COLUMN_LIMIT = Decimal(2**63 - 1) / 100  # what a bigint of fen holds


class AmountTooLarge(ValueError):
    pass


def to_yuan(value: object) -> Decimal:
    """Parse an amount that must already be exact to the fen.

    Refuses a third decimal place instead of rounding it away: a list that says
    1000.005 is a typo, and silently paying 1000.01 would hide it. Refuses what
    only looks like a number to Python (see `AMOUNT_TEXT`), and more than a
    column holds (a bigint of fen). One entry's amount is held to `LARGEST` by
    `valid_amount`; a fund's balance, the sum of many, may be more.
    """
    if isinstance(value, float):
        raise TypeError("Money must not be a float; pass a Decimal or a string.")
    if type(value) is Decimal:  # checked amounts come back here on every write: no text round trip
        amount = value
    else:
        text = str(value).strip().replace(",", "")
        if not AMOUNT_TEXT.fullmatch(text):
            raise ValueError(f"Not an amount: {value!r}")
        amount = Decimal(text)
    if not amount.is_finite():
        raise ValueError(f"Not an amount: {value!r}")
    if abs(amount) > COLUMN_LIMIT:
        raise AmountTooLarge(f"More than a column holds: {value!r}")
    if amount != amount.quantize(CENT):
        raise ValueError(f"More than two decimal places: {value!r}")
    return amount.quantize(CENT)


def valid_amount(value: object) -> Decimal:
    """An amount that an entry may carry: exact to the fen and more than zero;
    anything else is refused with `INVALID_AMOUNT` (`AMOUNT_TOO_LARGE`), whatever the door."""
    try:
        amount = to_yuan(value)
    except AmountTooLarge:
        raise refuse(AMOUNT_TOO_LARGE, "invalid_amount", field="amount") from None
    except (TypeError, ValueError):
        raise refuse(INVALID_AMOUNT, "invalid_amount", field="amount") from None
    if amount > LARGEST:
        raise refuse(AMOUNT_TOO_LARGE, "invalid_amount", field="amount")
    if amount <= 0:
        raise refuse(INVALID_AMOUNT, "invalid_amount", field="amount")
    return amount


def fen_to_yuan(fen: int | Decimal) -> Decimal:
    return (Decimal(fen) / 100).quantize(CENT, rounding=ROUND_HALF_UP)


def yuan_to_fen(yuan: Decimal) -> int:
    return int(to_yuan(yuan) * 100)


def format_yuan(amount: Decimal) -> str:
    return f"{amount:,.2f}"


CAPITAL_DIGITS = "零壹贰叁肆伍陆柒捌玖"
CAPITAL_PLACES = ("", "拾", "佰", "仟")
# 万 of 亿 reads 壹万贰仟亿 (1.2 trillion): the units above 亿 repeat those below it.
CAPITAL_SECTIONS = ("", "万", "亿", "万", "亿")


def in_capitals(amount: Decimal) -> str:
    """An amount in Chinese capitals (大写), as a voucher or cheque writes it:
    1680.32 → 壹仟陆佰捌拾元零叁角贰分, 107000 → 壹拾万柒仟元整, 0.05 → 伍分.

    Follows the rules banks hold vouchers to (《正确填写票据和结算凭证的基本规定》):
    壹拾 not 拾, one 零 for a run of zeros inside the number, none before a
    section's unit (万, 亿); 整 after 元 or 角 when no 分 follows. Where the rules
    allow a 零 to be left out (a yuan figure ending in 0 before its 角), it is
    written: a gap is where a figure can be added to a voucher.
    """
    amount = to_yuan(amount)
    sign = "负" if amount < 0 else ""
    yuan, fen_part = divmod(int(abs(amount) * 100), 100)
    jiao, fen = divmod(fen_part, 10)
    words: list[str] = []
    digits = str(yuan) if yuan else ""
    zero_pending = False
    for index, character in enumerate(digits):
        position = len(digits) - 1 - index
        place, section = position % 4, position // 4
        digit = int(character)
        if digit:
            if zero_pending:
                words.append("零")
                zero_pending = False
            words.append(CAPITAL_DIGITS[digit] + CAPITAL_PLACES[place])
        elif place:  # a zero at a section's end is taken up by its unit
            zero_pending = True
        # 亿 closes every digit above it: 壹万亿 and 壹亿亿 have nothing in the 亿 group itself.
        start = 0 if section == 2 else max(0, index - 3)
        if place == 0 and section and int(digits[start : index + 1]):
            words.append(CAPITAL_SECTIONS[section])
    if yuan:
        words.append("元")
    if not jiao and not fen:
        return sign + ("".join(words) if yuan else "零元") + "整"
    if jiao:
        if yuan and yuan % 10 == 0:
            words.append("零")
        words.append(CAPITAL_DIGITS[jiao] + "角")
    if fen:
        if yuan and not jiao:
            words.append("零")
        words.append(CAPITAL_DIGITS[fen] + "分")
    else:
        words.append("整")
    return sign + "".join(words)


def is_amount_text(value: object) -> bool:
    """Whether a value typed or sent as an amount is written as one (`AMOUNT_TEXT`)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        return False
    return AMOUNT_TEXT.fullmatch(str(value).strip().replace(",", "")) is not None


class MoneyFormField(forms.DecimalField):
    """A form's amount: Django's DecimalField, but written as `AMOUNT_TEXT` (it
    takes 1e3 and other scripts' digits)."""

    def to_python(self, value: Any) -> Decimal | None:  # type: ignore[override]  # the stubs give it IntegerField's int
        if value not in self.empty_values and not is_amount_text(value):
            raise exceptions.ValidationError(INVALID_AMOUNT, code="invalid_amount")
        return super().to_python(value)


class MoneyField(models.Field[Decimal | str | int, Decimal]):  # never null in this project
    """Deliberately not an IntegerField, so that an expression such as
    `F("balance") - Decimal("1.50")` cannot quietly subtract yuan from fen: Django
    refuses to infer its type. Money columns combine with each other, and a
    literal is written `Value(amount, output_field=MoneyField())`. (UPDATE does
    not infer types, so the services never do money arithmetic in SQL: they lock
    the row and compute in Python.)"""

    description = _("Amount in yuan (stored as integer fen)")
    max_digits = MAX_DIGITS
    decimal_places = 2

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        errors = super().check(**kwargs)
        if self.has_default() and isinstance(self.default, float):
            errors.append(checks.Error("MoneyField default must not be a float.", obj=self))
        return errors

    def from_db_value(self, value: int | None, expression: object, connection: object) -> Decimal | None:
        if value is None:
            return None
        return fen_to_yuan(value)

    def to_python(self, value: object) -> Decimal | None:
        if value is None:
            return None
        try:
            return to_yuan(value)
        except (TypeError, ValueError):
            raise exceptions.ValidationError(
                _("Enter an amount in yuan with at most two decimal places."), code="invalid_amount"
            ) from None

    def get_prep_value(self, value: Any) -> Any:
        if value is None:
            return None
        if hasattr(value, "resolve_expression"):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return value * 100
        yuan = self.to_python(value)
        assert yuan is not None  # value is not None, and to_python keeps it so
        return yuan_to_fen(yuan)

    def value_to_string(self, obj: models.Model) -> str:
        value = self.value_from_object(obj)
        return "" if value is None else str(value)

    def formfield(self, **kwargs: Any) -> forms.Field | None:  # type: ignore[override]  # always a DecimalField
        return models.Field.formfield(
            self,
            **{
                "form_class": MoneyFormField,
                "max_digits": MAX_DIGITS,
                "decimal_places": 2,
                "min_value": CENT,
                **kwargs,
            },
        )

    def get_internal_type(self) -> str:
        return "BigIntegerField"


for _connector in (Combinable.ADD, Combinable.SUB):
    register_combinable_fields(MoneyField, _connector, MoneyField, MoneyField)


def money_sum(expression: str | Combinable, *, filter: Q | None = None) -> Coalesce:
    """SUM of a money column that is 0.00, not NULL, over no rows."""
    return Coalesce(Sum(expression, filter=filter, output_field=MoneyField()), Value(0, output_field=MoneyField()))
