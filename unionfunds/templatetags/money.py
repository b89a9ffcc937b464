from decimal import Decimal

from django import template

from unionfunds.money import format_yuan

register = template.Library()


@register.filter
def yuan(amount: Decimal | None) -> str:
    """1234567.8 → 1,234,567.80, whatever the language's number format."""
    return "" if amount is None else format_yuan(amount)
