"""Portal and staff logins for the bench: sessions as Django's login() leaves them, so
that the page loads measure the pages and not the login."""


def logins(count: int) -> dict:
    """Portal logins for the first long-history customers and one staff user, each
    with a session as Django's login() leaves it (the bench does not measure login)."""
    from django.conf import settings
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
        load_backend,
    )
    from django.contrib.sessions.backends.db import SessionStore
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from customers.models import Customer

    user_model = get_user_model()

    def backend_for(user) -> str:
        """The first configured backend that recognises the user, as login() records."""
        for path in settings.AUTHENTICATION_BACKENDS:
            backend = load_backend(path)
            if hasattr(backend, "get_user") and backend.get_user(user.pk) is not None:
                return path
        raise RuntimeError("no authentication backend accepts the bench users")

    def session_for(user, device=None) -> str:
        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = backend_for(user)
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        if device is not None:  # as django_otp.login() leaves a verified session
            store[DEVICE_ID_SESSION_KEY] = device.persistent_id
        store.create()
        return store.session_key

    customer_sessions = []
    for customer in Customer.objects.filter(pk__lte=count).order_by("pk"):
        user = user_model(username=customer.email, email=customer.email, is_active=True)
        user.set_unusable_password()
        user.save()
        Customer.objects.filter(pk=customer.pk).update(user=user)
        customer_sessions.append(session_for(user))
    staff = user_model(username="bench-staff", email="staff@bench.example")
    staff.is_staff = staff.is_superuser = True
    staff.set_unusable_password()
    staff.save()
    # Production requires staff's second factor: the session has passed it.
    device = TOTPDevice.objects.create(user=staff, name="bench", confirmed=True)
    return {"customers": customer_sessions, "staff": session_for(staff, device)}
