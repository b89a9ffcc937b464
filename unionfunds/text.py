"""What a name, a note or a date typed into the books may be (issue 14, item 6).

The services call these for every door (forms, API, lists, admin), so a rule
holds once:

- no control characters and no invisible formatting characters in a name or a
  one-line text: a name holding U+202E prints reversed on a signature sheet, and
  a zero-width space makes 张三 and 张\u200b三 two people; a note keeps its line
  breaks and tabs but no other control character and no direction override;
- texts have a length: the model's for a name, `NOTE_MAX` for a note (a single
  entry's note once took 3 MB);
- an entry's date lies between `FIRST_DATE` and 31 December of next year: the
  books hold nothing older (a year-1 date is a typo for 2001 or 2021, and
  Excel writes it as serial -693594), and a clerk may enter a list ahead of its
  pay day, not years ahead.
"""

import datetime
import unicodedata

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from unionfunds.errors import refuse

NOTE_MAX = 1000
FIRST_DATE = datetime.date(2000, 1, 1)

# Direction controls (embeddings, overrides, isolates, marks): refused even in a note.
DIRECTION_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
NOTE_WHITESPACE = frozenset("\n\r\t")

INVISIBLE_CHARACTER = _(
    "This text holds an invisible control or direction character (U+%(point)s); type it again without it."
)
TOO_LONG = _("At most %(limit)s characters; this has %(length)s.")
DATE_OUT_OF_RANGE = _("The date must lie between %(first)s and %(last)s.")


def last_date(today: datetime.date | None = None) -> datetime.date:
    today = today or timezone.localdate()
    return datetime.date(today.year + 1, 12, 31)


def clean_line(value: object, field: str, *, limit: int) -> str:
    """A one-line text (a name, a batch, a reference), stripped, or refused."""
    text = str(value or "").strip()
    return _refused_if(line_fault(text, limit=limit), field, text)


def clean_note(value: object, field: str = "note", *, limit: int = NOTE_MAX) -> str:
    """A note or a reason: line breaks and tabs kept, other controls refused."""
    text = str(value or "").strip()
    return _refused_if(note_fault(text, limit=limit), field, text)


def valid_entry_date(value: datetime.date, field: str = "date", *, today: datetime.date | None = None):
    return _refused_if(date_fault(value, today=today), field, value)


def line_fault(text: str, *, limit: int) -> tuple[str, str] | None:
    """(code, message) of what is wrong with a one-line text; None if nothing."""
    for character in text:
        if unicodedata.category(character) in ("Cc", "Cf"):
            return _invisible(character)
    return _length_fault(text, limit)


def note_fault(text: str, *, limit: int = NOTE_MAX) -> tuple[str, str] | None:
    for character in text:
        if character in DIRECTION_CONTROLS or (
            unicodedata.category(character) == "Cc" and character not in NOTE_WHITESPACE
        ):
            return _invisible(character)
    return _length_fault(text, limit)


def date_fault(value: datetime.date, *, today: datetime.date | None = None) -> tuple[str, str] | None:
    if FIRST_DATE <= value <= last_date(today):
        return None
    return "date_out_of_range", str(DATE_OUT_OF_RANGE % {"first": FIRST_DATE, "last": last_date(today)})


def _invisible(character: str) -> tuple[str, str]:
    return "invisible_character", str(INVISIBLE_CHARACTER % {"point": f"{ord(character):04X}"})


def _length_fault(text: str, limit: int) -> tuple[str, str] | None:
    if len(text) > limit:
        return "max_length", str(TOO_LONG % {"limit": limit, "length": len(text)})
    return None


def _refused_if(fault: tuple[str, str] | None, field: str, value):
    if fault is not None:
        code, message = fault
        raise refuse(message, code, field=field)
    return value
