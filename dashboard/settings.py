"""The one settings module. Every knob comes from the environment (see README: Configuration).

With nothing set, the project runs in demo mode: SQLite in .state/, an embedded Redis
started by `bin/up`, and the built-in Catapult simulator.
"""

import os
import re
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from dashboard.env import env_bool, env_float, env_int, env_list, env_str, env_url

BASE_DIR = Path(__file__).resolve().parent.parent
# Everything the running stack writes (SQLite, embedded Redis, demo login, secret key).
STATE_DIR = Path(env_str("STATE_DIR", str(BASE_DIR / ".state")))

DEBUG = env_bool("DEBUG", False)


def _generated_secret(name: str, filename: str) -> str:
    """The variable's value, else a random one generated once and kept in STATE_DIR.

    Keeping it on disk means the demo stack survives restarts without the user having
    to invent secrets; production sets them explicitly.
    """
    value = env_str(name)
    if value:
        return value
    path = STATE_DIR / filename
    if not path.exists():
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32))
    return path.read_text().strip()


SECRET_KEY = _generated_secret("SECRET_KEY", "secret_key")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "axes",
    "calls",
    "calls.recordings",
    "calls.alerts",
]

MIDDLEWARE = [
    "dashboard.logs.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "calls.middleware.ViewerTimezoneMiddleware",
    # Last, as its documentation asks: it answers locked-out logins itself.
    "axes.middleware.AxesMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "dashboard.urls"
WSGI_APPLICATION = "dashboard.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "calls.alerts.context_processors.saved_views",
            ],
        },
    },
]


def _database() -> dict:
    url = env_str("DATABASE_URL", f"sqlite:///{STATE_DIR / 'db.sqlite3'}")
    try:
        config = dj_database_url.parse(url, conn_max_age=0)
    except Exception as exc:  # dj-database-url raises several types for a bad URL
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
    if config["ENGINE"] == "django.db.backends.sqlite3":
        Path(config["NAME"]).parent.mkdir(parents=True, exist_ok=True)
        config["OPTIONS"] = {
            # Web, worker and beat write at once: WAL lets readers run beside the writer,
            # IMMEDIATE takes the write lock at BEGIN (no deadlocked lock upgrades), and the
            # timeout makes a writer wait for the lock instead of failing "database is locked".
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
        # A file, not memory, so a Celery worker started by the tests shares the test DB;
        # one per test run, so runs side by side do not write into each other's file.
        config["TEST"] = {"NAME": str(STATE_DIR / f"test-db-{os.getpid()}.sqlite3")}
    elif config["ENGINE"] == "django.db.backends.postgresql":
        config["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0)
        config["CONN_HEALTH_CHECKS"] = True
    else:
        raise ImproperlyConfigured("DATABASE_URL must be a sqlite:// or postgres:// URL")
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses logins while locked out
    "django.contrib.auth.backends.ModelBackend",
]
# Login throttling: after 5 failures for a username from one address, 15 minutes' pause.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = env_int("LOGIN_COOLOFF_MINUTES", 15, minimum=1) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "calls:list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(STATE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed names (collectstatic writes the manifest; bin/up runs it), served with a
    # year's cache by whitenoise. Not strict: a file missing from the manifest is served
    # under its plain name instead of failing the page.
    "staticfiles": {"BACKEND": "dashboard.storage.StaticStorage"},
}
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns on a missing folder
WHITENOISE_USE_FINDERS = True  # serve straight from static/ without collectstatic in demo mode

# --- Redis -----------------------------------------------------------------------------
# Unset REDIS_URL means "embedded": bin/up starts a private redis-server on this port.
REDIS_EMBEDDED = not env_str("REDIS_URL")
EMBEDDED_REDIS_PORT = env_int("EMBEDDED_REDIS_PORT", 6390, minimum=1, maximum=65535)
REDIS_URL = env_url(
    "REDIS_URL", f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0", schemes=("redis", "rediss", "unix")
)

# --- Catapult ----------------------------------------------------------------------------
# With no account configured, the dashboard talks to the built-in simulator (demo mode).
_ACCOUNT_VARS = ("CATAPULT_USER_ID", "CATAPULT_API_TOKEN", "CATAPULT_API_SECRET")
_account = {name: env_str(name) for name in _ACCOUNT_VARS}
if any(_account.values()) and not all(_account.values()):
    missing = ", ".join(name for name, value in _account.items() if not value)
    raise ImproperlyConfigured(f"Set all of {', '.join(_ACCOUNT_VARS)}; missing: {missing}")

CATAPULT_SIMULATOR = not any(_account.values())
SIMULATOR_PORT = env_int("SIMULATOR_PORT", 8900, minimum=1, maximum=65535)
SIMULATOR_CALLS_PER_MINUTE = env_float("SIMULATOR_CALLS_PER_MINUTE", 12.0, minimum=0)
SIMULATOR_PRELOAD = env_int("SIMULATOR_PRELOAD", 300, minimum=0)
if CATAPULT_SIMULATOR:
    CATAPULT_BASE_URL = env_url("CATAPULT_BASE_URL", f"http://127.0.0.1:{SIMULATOR_PORT}")
    CATAPULT_USER_ID = "u-demo"
    CATAPULT_API_TOKEN = "demo-token"
    CATAPULT_API_SECRET = "demo-secret"  # noqa: S105 - the simulator's public demo credentials
else:
    CATAPULT_BASE_URL = env_url("CATAPULT_BASE_URL", "https://api.catapult.inetwork.com")
    CATAPULT_USER_ID = _account["CATAPULT_USER_ID"]
    CATAPULT_API_TOKEN = _account["CATAPULT_API_TOKEN"]
    CATAPULT_API_SECRET = _account["CATAPULT_API_SECRET"]
WEB_PORT = env_int("WEB_PORT", 8000, minimum=1, maximum=65535)
# Callbacks (webhooks) from Catapult: HTTP Basic credentials carried in the callback URL,
# separate from the API's. Against a real account, callbacks are off until a password is set.
CALLBACK_USERNAME = env_str("CALLBACK_USERNAME", "catapult")
CALLBACK_PASSWORD = (
    _generated_secret("CALLBACK_PASSWORD", "callback-password")
    if CATAPULT_SIMULATOR
    else env_str("CALLBACK_PASSWORD")
)
# Where Catapult reaches this dashboard, for the callbackUrl of calls placed from it.
CALLBACK_BASE_URL = env_url(
    "CALLBACK_BASE_URL", f"http://127.0.0.1:{WEB_PORT}" if CATAPULT_SIMULATOR else ""
)
# Requests per second per resource family, shared by every process through Redis (0: no
# limit). Catapult's documented limit is 1, and the demo simulator enforces it too.
CATAPULT_RATE_LIMIT = env_float("CATAPULT_RATE_LIMIT", 1.0, minimum=0)
CATAPULT_RATE_BURST = env_float("CATAPULT_RATE_BURST", 1.0, minimum=1)
# Extra spacing between tokens: requests leave a full interval apart but can arrive
# closer together after network jitter, and the API counts arrivals.
CATAPULT_RATE_MARGIN_MS = env_float("CATAPULT_RATE_MARGIN_MS", 50.0, minimum=0)
# The demo simulator's own limit (what Catapult documents); 0 turns it off.
SIMULATOR_RATE_LIMIT = env_float("SIMULATOR_RATE_LIMIT", 1.0, minimum=0)
# Whether the demo simulator sends callbacks to this dashboard (false: polling only).
SIMULATOR_CALLBACKS = env_bool("SIMULATOR_CALLBACKS", True)
CATAPULT_CONNECT_TIMEOUT = env_float("CATAPULT_CONNECT_TIMEOUT", 5.0, minimum=0.1)
CATAPULT_READ_TIMEOUT = env_float("CATAPULT_READ_TIMEOUT", 30.0, minimum=0.1)

# Country whose national numbers operators may type without a country code (ISO 3166 code).
DEFAULT_REGION = env_str("DEFAULT_REGION", "US").upper()
if DEFAULT_REGION:
    import phonenumbers

    if DEFAULT_REGION not in phonenumbers.SUPPORTED_REGIONS:
        raise ImproperlyConfigured(
            f"DEFAULT_REGION must be a country code like US or GB, got {DEFAULT_REGION!r}"
        )

# --- Sync --------------------------------------------------------------------------------
SYNC_INTERVAL_SECONDS = env_int("SYNC_INTERVAL_SECONDS", 10, minimum=1)
# How far before the newest start time of the last complete cycle a walk goes on
# looking: it absorbs page drift and calls that appear in the list late.
SYNC_LOOKBACK_SECONDS = env_int("SYNC_LOOKBACK_SECONDS", 300, minimum=0)
SYNC_PAGE_SIZE = env_int("SYNC_PAGE_SIZE", 1000, minimum=1, maximum=1000)
# A cycle that has not finished in this time has its lock expire (a dead worker's lock
# must not block syncing forever); the task's hard time limit is the same number.
SYNC_LOCK_TIMEOUT_SECONDS = env_int("SYNC_LOCK_TIMEOUT_SECONDS", 600, minimum=10)
SYNC_MAX_RETRIES = env_int("SYNC_MAX_RETRIES", 4, minimum=0)
# First cycle on an empty database: how many days of history to read (0 = all of it).
SYNC_BACKFILL_DAYS = env_int("SYNC_BACKFILL_DAYS", 0, minimum=0)
# Live calls older than this are fetched by id instead of walking the list back to them.
SYNC_MAX_WALK_BACK_SECONDS = env_int("SYNC_MAX_WALK_BACK_SECONDS", 3600, minimum=60)
# A cycle starts no request after this many seconds, so the next one starts on time
# with the newest list page (the list walk itself always finishes).
SYNC_CYCLE_SECONDS = env_float(
    "SYNC_CYCLE_SECONDS", max(1.0, SYNC_INTERVAL_SECONDS - 1.5), minimum=0.5
)
# A call's events are read once, this long after it ends: one read also brings the
# events the platform adds after the hangup.
SYNC_LATE_EVENTS_SECONDS = env_int("SYNC_LATE_EVENTS_SECONDS", 30, minimum=0)
# A live call someone has open has its events re-read at most this often (spare budget).
SYNC_LIVE_EVENTS_SECONDS = env_int("SYNC_LIVE_EVENTS_SECONDS", 15, minimum=1)
# An event list that could not be used is tried again this much later.
SYNC_RETRY_EVENTS_SECONDS = env_int("SYNC_RETRY_EVENTS_SECONDS", 60, minimum=0)
# "API unreachable" (banner, actions disabled) only when no request succeeded this long.
API_DOWN_AFTER_SECONDS = env_int(
    "API_DOWN_AFTER_SECONDS", max(60, 3 * SYNC_INTERVAL_SECONDS), minimum=1
)
SYNC_RUN_RETENTION_DAYS = env_int("SYNC_RUN_RETENTION_DAYS", 7, minimum=1)
CALLBACK_RETENTION_DAYS = env_int("CALLBACK_RETENTION_DAYS", 7, minimum=1)
# Calls (and their events) older than this are deleted; 0 keeps every call for good.
CALL_RETENTION_DAYS = env_int("CALL_RETENTION_DAYS", 0, minimum=0)
# Bearer token /metrics asks for; unset turns /metrics off.
METRICS_TOKEN = env_str("METRICS_TOKEN")

# --- Celery ------------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a task whose worker dies is redelivered, not lost
CELERY_TASK_REJECT_ON_WORKER_LOST = True  # ... also when only its pool child died
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # no worker hoards tasks another could run
# The soft limit leaves the task time to record its SyncRun before the hard limit.
CELERY_TASK_SOFT_TIME_LIMIT = SYNC_LOCK_TIMEOUT_SECONDS - min(30, SYNC_LOCK_TIMEOUT_SECONDS // 10)
CELERY_TASK_TIME_LIMIT = SYNC_LOCK_TIMEOUT_SECONDS
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Must exceed the longest task run, or Redis redelivers a task that is still running.
    "visibility_timeout": SYNC_LOCK_TIMEOUT_SECONDS * 2,
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE = {
    "prune": {
        "task": "calls.tasks.prune",
        "schedule": 3600.0,
        "options": {"expires": 3600.0},
    },
    # The Overview's peak concurrency of the last 31 days, computed ahead of the viewers.
    "warm-peaks": {
        "task": "calls.tasks.warm_peaks",
        "schedule": 300.0,
        "options": {"expires": 300.0},
    },
    "sync-calls": {
        "task": "calls.tasks.sync_calls",
        "schedule": float(SYNC_INTERVAL_SECONDS),
        # A cycle that waited a whole interval in the queue is stale: drop it rather than
        # let a backlog of identical cycles pile up behind a slow API.
        "options": {"expires": float(SYNC_INTERVAL_SECONDS)},
    },
    # The account's recordings list (its own rate-limit family), at the same pace.
    "sync-recordings": {
        "task": "calls.recordings.tasks.sync_recordings",
        "schedule": float(SYNC_INTERVAL_SECONDS),
        "options": {"expires": float(SYNC_INTERVAL_SECONDS)},
    },
}

CELERY_BEAT_SCHEDULE_FILENAME = str(STATE_DIR / "celerybeat-schedule")

# --- Alerts (calls/alerts/, README: Alerts) ------------------------------------------------
ALERT_EVALUATE_SECONDS = env_int("ALERT_EVALUATE_SECONDS", 60, minimum=10, maximum=600)
# An evaluation that waited a whole interval is stale: the next one is already due.
CELERY_BEAT_SCHEDULE["evaluate-alerts"] = {
    "task": "alerts.evaluate",
    "schedule": float(ALERT_EVALUATE_SECONDS),
    "options": {"expires": float(ALERT_EVALUATE_SECONDS)},
}
# Reminders while an alert stays firing unacknowledged: this, then twice that, ... capped.
ALERT_RENOTIFY_MINUTES = env_int("ALERT_RENOTIFY_MINUTES", 15, minimum=1)
ALERT_RENOTIFY_MAX_MINUTES = env_int("ALERT_RENOTIFY_MAX_MINUTES", 240, minimum=1)
# Attempts per notification, the first retry after the backoff, doubled each time after.
ALERT_DELIVERY_ATTEMPTS = env_int("ALERT_DELIVERY_ATTEMPTS", 6, minimum=1, maximum=20)
ALERT_DELIVERY_BACKOFF_SECONDS = env_float("ALERT_DELIVERY_BACKOFF_SECONDS", 30.0, minimum=0.1)
ALERT_WEBHOOK_CONNECT_TIMEOUT = env_float("ALERT_WEBHOOK_CONNECT_TIMEOUT", 5.0, minimum=0.1)
ALERT_WEBHOOK_TIMEOUT = env_float("ALERT_WEBHOOK_TIMEOUT", 10.0, minimum=0.1)
# Webhook signing secrets: rules name one of these variables; the values stay here, in
# memory, never in the database, pages or logs.
ALERT_WEBHOOK_SECRETS = {
    name: value.strip()
    for name, value in os.environ.items()
    if re.fullmatch(r"ALERT_WEBHOOK_SECRET(_[A-Z0-9_]{1,40})?", name) and value.strip()
}
# Resolved alerts, with their notifications and attempts, are deleted after this long.
ALERT_RETENTION_DAYS = env_int("ALERT_RETENTION_DAYS", 90, minimum=1)
# Hosts a webhook may reach although they resolve to a loopback, private or link-local
# address (a receiver on this machine or the local network); every other such address
# is refused when sending. Comma-separated host names or addresses, as in the URLs.
ALERT_WEBHOOK_ALLOW_HOSTS = [
    host.lower().strip("[]").rstrip(".") for host in env_list("ALERT_WEBHOOK_ALLOW_HOSTS", [])
]
# Where this dashboard is reached, for the links in notifications (else a path only).
DASHBOARD_URL = env_url("DASHBOARD_URL", "")

# --- Email (alert notifications) --------------------------------------------------------
# SMTP (EMAIL_HOST, default localhost:25) against a real account; the demo writes each
# message to a file in STATE_DIR/mail unless EMAIL_HOST is set (or to the worker's
# console with EMAIL_DELIVERY=console).
_DEMO_MAIL = CATAPULT_SIMULATOR and not env_str("EMAIL_HOST")
EMAIL_DELIVERY = env_str("EMAIL_DELIVERY", "file" if _DEMO_MAIL else "smtp").lower()
_EMAIL_BACKENDS = {
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    "console": "django.core.mail.backends.console.EmailBackend",
    "file": "django.core.mail.backends.filebased.EmailBackend",
}
if EMAIL_DELIVERY not in _EMAIL_BACKENDS:
    raise ImproperlyConfigured(
        f"EMAIL_DELIVERY must be smtp, console or file, got {EMAIL_DELIVERY!r}"
    )
# Django's MAILERS (the EMAIL_* settings are deprecated): one mailer, "default".
if EMAIL_DELIVERY == "smtp":
    _use_tls, _use_ssl = env_bool("EMAIL_USE_TLS", False), env_bool("EMAIL_USE_SSL", False)
    if _use_tls and _use_ssl:
        raise ImproperlyConfigured("Set at most one of EMAIL_USE_TLS and EMAIL_USE_SSL")
    _mail_options = {
        "host": env_str("EMAIL_HOST", "localhost"),
        "port": env_int("EMAIL_PORT", 25, minimum=1, maximum=65535),
        "username": env_str("EMAIL_HOST_USER"),
        "password": env_str("EMAIL_HOST_PASSWORD"),  # never shown, logged or stored
        "use_tls": _use_tls,  # STARTTLS
        "use_ssl": _use_ssl,  # implicit TLS (port 465)
        "timeout": env_float("EMAIL_TIMEOUT", 10.0, minimum=0.1),
    }
elif EMAIL_DELIVERY == "file":
    _mail_options = {"file_path": str(STATE_DIR / "mail")}
else:
    _mail_options = {}
MAILERS = {"default": {"BACKEND": _EMAIL_BACKENDS[EMAIL_DELIVERY], "OPTIONS": _mail_options}}
DEFAULT_FROM_EMAIL = env_str("EMAIL_FROM", "Catapult dashboard <dashboard@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Logging -----------------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
    raise ImproperlyConfigured(
        f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {LOG_LEVEL!r}"
    )
LOG_FORMAT = env_str("LOG_FORMAT", "plain").lower()
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, got {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "dashboard.logs.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "dashboard.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "urllib3": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        # The cycle logs its own one-line summary: the worker's "received" and "succeeded"
        # lines for the same task would say it twice more.
        "celery.app.trace": {"level": "WARNING"},
        "celery.worker.strategy": {"level": "WARNING"},
    },
}

# --- Production hardening -----------------------------------------------------------------
# HTTPS=true when the dashboard is served over TLS (always, in production): secure cookies,
# HSTS and a redirect from plain HTTP. The demo on 127.0.0.1 runs without it.
HTTPS = env_bool("HTTPS", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS and env_bool("SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS and env_bool("SECURE_HSTS_PRELOAD", False)
if env_bool("BEHIND_PROXY", False):
    # The proxy terminates TLS and says so; only trust this behind a proxy that sets it.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD or not HTTPS else ["security.W021"]
# SQLite builds call_newest_idx without its included columns, which only PostgreSQL's
# index-only scans use (calls/models.py): nothing to warn about.
SILENCED_SYSTEM_CHECKS.append("models.W040")
SESSION_COOKIE_AGE = env_int("SESSION_HOURS", 12, minimum=1) * 3600  # an operator's shift
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# No inline script or style anywhere: htmx is configured (base.html) not to need eval
# or inline styles, and every script is a vendored static file.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
