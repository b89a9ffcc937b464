from decimal import Decimal

from django import template

from unionfunds.money import format_yuan, in_capitals, to_yuan

register = template.Library()


@register.filter
def yuan(amount: Decimal | str | None) -> str:
    """1234567.8 → 1,234,567.80, whatever the language's number format. Takes
    the strings that JSON keeps amounts in, too."""
    if amount is None or amount == "":
        return ""
    return format_yuan(amount if isinstance(amount, Decimal) else Decimal(str(amount)))


@register.filter
def amount_in(amount: Decimal | None, wan: bool) -> str:
    """Yuan, or 万元 (ten thousand yuan) to two places when `wan` is set."""
    if amount is None:
        return ""
    return format_yuan((amount / 10000).quantize(Decimal("0.01"))) if wan else format_yuan(amount)


@register.filter
def level_label(code: str) -> str:
    from unionfunds.models import Level

    return str(Level(code).label) if code in Level.values else code


@register.filter
def grouped(count: int | None) -> str:
    """A count of rows or people with thousands separators: 1,000."""
    return "" if count is None else f"{int(count):,}"


@register.filter
def capitals(amount: Decimal | str | None) -> str:
    """The amount in Chinese capitals (大写): 壹仟元整. Blank for what is not an
    amount, as a form's box may hold anything typed."""
    try:
        return in_capitals(to_yuan(amount if isinstance(amount, Decimal) else str(amount)))
    except (TypeError, ValueError, ArithmeticError):
        return ""
