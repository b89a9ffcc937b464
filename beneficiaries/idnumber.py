"""Resident ID numbers (居民身份证号码), checked by the rule in docs/DOMAIN.md (rule 3).

The check character is ISO 7064 MOD 11-2, computed by python-stdnum. Its
`stdnum.cn.ric.validate` is not used: it also demands that the six-digit area
code be a current one, and refuses real people whose county has been merged or
recoded since their number was issued.
"""

import datetime
import re
from dataclasses import dataclass

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from stdnum.iso7064.mod_11_2 import calc_check_digit

from unionfunds.errors import refuse

INVALID_ID_NUMBER = _("Invalid resident ID number: %(reason)s")
WRONG_LENGTH = _("it must have 18 characters")
WRONG_CHARACTERS = _("it must be 17 digits followed by a digit or X")
WRONG_CHECK_CHARACTER = _("the last character does not match the check digit")
NOT_A_DATE = _("characters 7-14 are not a real birth date")
FUTURE_BIRTH_DATE = _("the birth date is in the future")
NOT_A_PROVINCE = _("it does not begin with a province code")

# Provinces, autonomous regions and municipalities (GB/T 2260), plus 71 Taiwan,
# 81 Hong Kong, 82 Macao and 83 (residence permits of Taiwan residents).
PROVINCE_CODES = frozenset(
    {
        *("11", "12", "13", "14", "15", "21", "22", "23"),
        *("31", "32", "33", "34", "35", "36", "37"),
        *("41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54"),
        *("61", "62", "63", "64", "65", "71", "81", "82", "83"),
    }
)


@dataclass(frozen=True)
class ResidentId:
    number: str
    birth_date: datetime.date
    gender: str  # "male" or "female": the 17th digit is odd for men

    @property
    def masked(self) -> str:
        return mask(self.number)


def normalize(value: str) -> str:
    return "".join(str(value).split()).upper()


def is_last_four(value: str) -> bool:
    """The four last characters of a number, as a masked number shows them (295X)."""
    return re.fullmatch(r"[0-9]{3}[0-9X]", normalize(value)) is not None


def parse(value: str, *, today: datetime.date | None = None) -> ResidentId:
    """The checked number with what it says of its holder; raises a ValidationError
    with code `invalid_id_number` that names what is wrong."""
    number = normalize(value)

    def invalid(reason):
        return refuse(INVALID_ID_NUMBER, "invalid_id_number", reason=reason)

    if len(number) != 18:
        raise invalid(WRONG_LENGTH)
    if not (number[:17].isdigit() and number[:17].isascii() and (number[17].isdigit() or number[17] == "X")):
        raise invalid(WRONG_CHARACTERS)
    if number[:2] not in PROVINCE_CODES:
        raise invalid(NOT_A_PROVINCE)
    try:
        birth_date = datetime.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise invalid(NOT_A_DATE) from None
    if birth_date > (today or timezone.localdate()):
        raise invalid(FUTURE_BIRTH_DATE)
    if calc_check_digit(number[:17]) != number[17]:
        raise invalid(WRONG_CHECK_CHARACTER)
    gender = "male" if int(number[16]) % 2 else "female"
    return ResidentId(number=number, birth_date=birth_date, gender=gender)


def build(area_code: str, birth_date: datetime.date, sequence: int) -> str:
    """A well-formed number for synthetic people (demo data, tests): never a real person's.

    `sequence` (0-999) is the three-digit order code; odd is male, even female.
    """
    body = f"{area_code}{birth_date:%Y%m%d}{sequence:03d}"
    return body + calc_check_digit(body)


def mask(number: str) -> str:
    """6301**********123X: the area prefix and the last four stay readable."""
    if len(number) < 8:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]
