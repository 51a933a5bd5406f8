"""``{% portal_link %}``: the customer portal's absolute address on ``SITE_URL``, in the
active language, for the e-mails the portal sends itself (confirmation, password reset);
built by ``loyalty_site.core.email_links`` like the links of every other e-mail."""

from django import template

from loyalty_site.core.email_links import site_url

register = template.Library()


@register.simple_tag
def portal_link() -> str:
    return site_url("portal:dashboard")
