"""What guards staff accounts: a second factor at sign-in (``second_factor``,
``second_factor_views``, ``passkey_urls``), the audit log hooked into every admin
(``audit``) and its redaction when a customer's personal data is erased (``erasure``).
The roles are Django groups made by ``loyalty_site/migrations/0001_staff_roles.py``."""
