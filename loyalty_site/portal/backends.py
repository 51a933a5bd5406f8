"""Sign-in by e-mail address (customers) or user name (staff), case-insensitively."""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend


def login_username(request, credentials: dict) -> str:
    """The key django-axes counts failures under: the typed login, trimmed and lower-cased,
    so "Anna@Example.com" and "anna@example.com" share one lockout."""
    return (credentials or {}).get("username", "").strip().lower()


class EmailOrUsernameBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None or password is None:
            return None
        login = username.strip()
        users = get_user_model()._default_manager
        user = users.filter(username__iexact=login).first()
        if user is None and "@" in login:
            matches = list(users.filter(email__iexact=login)[:2])
            user = matches[0] if len(matches) == 1 else None
        if user is None:
            # Run the hasher anyway so a missing account takes as long as a wrong password.
            get_user_model()().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
