"""Points and money formatted for the active locale: 1.234 / 1,234 and 120,00 EUR."""

from django import template

from loyalty_site.portal.wording import money_text, points_text

register = template.Library()


@register.filter
def points(value) -> str:
    return points_text(int(value or 0))


@register.filter
def money(value, currency: str = "EUR") -> str:
    return money_text(value, currency)
