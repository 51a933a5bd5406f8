"""E-mail address normalisation for duplicate and self-referral detection."""

# Providers that deliver "a.b.c@gmail.com" to "abc@gmail.com".
_DOT_BLIND_DOMAINS = {"gmail.com", "googlemail.com"}
_DOMAIN_ALIASES = {"googlemail.com": "gmail.com"}


def email_normalize(email: str) -> str:
    """Return the mailbox an address is delivered to, as far as can be known.

    Lower-cases the address, drops a "+tag" (plus addressing, which most providers
    support) and, for providers that ignore them, dots in the local part:
    ``Max.Muster+shop@GoogleMail.com`` -> ``maxmuster@gmail.com``.
    """
    email = (email or "").strip().lower()
    if "@" not in email:
        return email
    local, _, domain = email.rpartition("@")
    domain = _DOMAIN_ALIASES.get(domain, domain)
    local = local.split("+", 1)[0]
    if domain in _DOT_BLIND_DOMAINS:
        local = local.replace(".", "")
    return f"{local}@{domain}"
