"""The one settings module. Everything deployment-specific comes from environment variables."""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from caseloop.conf import (
    envbool,
    envint,
    envlist,
    envsecret,
    envstr,
    persistent_secret_key,
)

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(envstr("CASELOOP_DATA_DIR", str(Path.cwd() / "data"))).resolve()

DEBUG = envbool("DEBUG", False)
SECRET_KEY = envsecret("SECRET_KEY") or persistent_secret_key(DATA_DIR)
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = envstr("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "ninja",
    "django_tasks",
    "django_tasks_db",
    "caseloop.org",
    "caseloop.programs",
    "caseloop.customers",
    "caseloop.cases",
    "caseloop.sla",
    "caseloop.routing",
    "caseloop.intake",
    "caseloop.notify",
    "caseloop.worker",
    "caseloop.api",
    "django_htmx",
    "caseloop.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "caseloop.urls"
WSGI_APPLICATION = "caseloop.wsgi.application"
AUTH_USER_MODEL = "org.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _database(url: str) -> dict[str, object]:
    if not url:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{DATA_DIR / 'caseloop.sqlite3'}"
    try:
        config: dict[str, object] = dict(dj_database_url.parse(url, conn_max_age=60))
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL cannot be read: {exc}") from None
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["CONN_MAX_AGE"] = 0
        config["OPTIONS"] = {
            # IMMEDIATE: a writing transaction takes the write lock at BEGIN, so two writers
            # queue on the busy timeout instead of failing with "database is locked" mid-way.
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
            ),
        }
        # A file, not memory: tests that run threads or subprocesses (workers, a killed import)
        # need every connection to see the same database.
        config["TEST"] = {"NAME": str(DATA_DIR / "test-caseloop.sqlite3")}
    elif config["ENGINE"] == "django.db.backends.postgresql":
        config["CONN_HEALTH_CHECKS"] = True
    return config


DATABASES = {"default": _database(envstr("DATABASE_URL"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = envstr("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
# WhiteNoise looks at STATIC_ROOT when the process starts; it must exist even before collectstatic.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_ROOT = Path(envstr("CASELOOP_MEDIA_ROOT", str(DATA_DIR / "media")))
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# Without a collected manifest (tests, first start) WhiteNoise would refuse to render pages.
WHITENOISE_USE_FINDERS = True
WHITENOISE_MANIFEST_STRICT = False

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"
SESSION_COOKIE_AGE = envint("SESSION_COOKIE_AGE", 12 * 3600)  # a working day, not two weeks

EMAIL_BACKEND = envstr("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = envstr("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", 25)
EMAIL_HOST_USER = envstr("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = envsecret("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = envbool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT", 30)
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "caseloop <cases@localhost>")
SERVER_EMAIL = envstr("SERVER_EMAIL", DEFAULT_FROM_EMAIL)
CASELOOP_REPLY_ADDRESS = envstr("CASELOOP_REPLY_ADDRESS", "cases@localhost")
CASELOOP_OUTBOX_MAX_ATTEMPTS = envint("CASELOOP_OUTBOX_MAX_ATTEMPTS", 10)
CASELOOP_OUTBOX_BACKOFF_SECONDS = envint("CASELOOP_OUTBOX_BACKOFF_SECONDS", 30)
CASELOOP_OUTBOX_BACKOFF_MAX_SECONDS = envint("CASELOOP_OUTBOX_BACKOFF_MAX_SECONDS", 6 * 3600)
CASELOOP_WEBHOOK_TIMEOUT = envint("CASELOOP_WEBHOOK_TIMEOUT", 10)
CASELOOP_INBOUND_MAX_BYTES = envint("CASELOOP_INBOUND_MAX_BYTES", 25 * 1024 * 1024)

# One-off jobs (Django Tasks) are rows in the database that ``caseloop worker`` runs, tests
# included: a test runs the queue through the worker's pass, as production does.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
# A worker silent this long is taken for dead and the task it was running is run again, at most
# CASELOOP_TASK_MAX_ATTEMPTS times in all. Workers beat every quarter of it, even mid-task.
CASELOOP_WORKER_STALE_SECONDS = envint("CASELOOP_WORKER_STALE_SECONDS", 120)
CASELOOP_TASK_MAX_ATTEMPTS = envint("CASELOOP_TASK_MAX_ATTEMPTS", 3)
if CASELOOP_WORKER_STALE_SECONDS < 1 or CASELOOP_TASK_MAX_ATTEMPTS < 1:
    raise ImproperlyConfigured(
        "CASELOOP_WORKER_STALE_SECONDS and CASELOOP_TASK_MAX_ATTEMPTS must be at least 1."
    )

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Production behind TLS: CASELOOP_HTTPS=true turns on every cookie and transport protection.
if envbool("CASELOOP_HTTPS", False):
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Attachments: size limit and the content types a case may carry.
CASELOOP_ATTACHMENT_MAX_BYTES = envint("CASELOOP_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024)
CASELOOP_ATTACHMENT_TYPES = envlist(
    "CASELOOP_ATTACHMENT_TYPES",
    [
        "application/pdf",
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "text/plain",
        "text/csv",
        "message/rfc822",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ],
)
CASELOOP_DEFAULT_REGION = envstr("CASELOOP_DEFAULT_REGION", "US")
CASELOOP_API_PAGE_SIZE_MAX = envint("CASELOOP_API_PAGE_SIZE_MAX", 200)
# The inbox's status chips count up to this many cases each and then say "1,000+".
CASELOOP_INBOX_COUNT_CAP = envint("CASELOOP_INBOX_COUNT_CAP", 1000)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    # caseloop's worker runs django-tasks-db's in every pass, which would log its start and end.
    "loggers": {"django_tasks_db": {"level": "WARNING"}},
}
