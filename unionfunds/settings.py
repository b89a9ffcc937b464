"""One settings module, driven by the environment.

Unset variables give safe production values (no debug, no default secret), so
development has to ask for what it needs: `make run` sets DJANGO_DEBUG=1.
"""

import os
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env_flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = env_flag("DJANGO_DEBUG")
TESTING = env_flag("UNIONFUNDS_TESTING") or "pytest" in sys.modules

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not (DEBUG or TESTING):
        raise ImproperlyConfigured("Set DJANGO_SECRET_KEY (or DJANGO_DEBUG=1 for development).")
    # Development and tests only: a key that is useless anywhere else.
    SECRET_KEY = "insecure-development-key-" + "x" * 40

ALLOWED_HOSTS = [
    host.strip()
    for host in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1" if DEBUG else "").split(",")
    if host.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "import_export",
    "treebeard",
    "django_tasks",
    "django_tasks_db",
    "axes",
    "csp",
    "unionfunds",
    "beneficiaries",
    "allocations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "unionfunds.middleware.ChineseFirstLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After the user is known, so that the refusal page has its header.
    "unionfunds.middleware.RefuseNulMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # A temporary password leads every page to the change-password page.
    "unionfunds.middleware.TemporaryPasswordMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "unionfunds.urls"
WSGI_APPLICATION = "unionfunds.wsgi.application"

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
                "unionfunds.context_processors.roles",
                "allocations.context_processors.waiting",
            ],
        },
    },
]


def database_from_env() -> dict:
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        url = f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
    config = dj_database_url.parse(url, conn_max_age=0 if TESTING else 60)
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # SQLite ignores SELECT ... FOR UPDATE. IMMEDIATE transactions take the write
        # lock at BEGIN, so two writers queue behind the busy timeout instead of
        # failing with "database is locked" halfway through a read-check-write.
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
        }
        config["CONN_MAX_AGE"] = 0
        if TESTING:
            # A file, not Django's shared in-memory database, so that concurrency
            # tests get real separate connections with the options above.
            config["TEST"] = {"NAME": str(Path(tempfile.gettempdir()) / f"unionfunds-test-{os.getpid()}.sqlite3")}
    return config


DATABASES = {"default": database_from_env()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# A covering index (Index.include) helps the roll-ups on PostgreSQL; SQLite builds the
# index without the extra columns, which is all it can do.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

# django-axes first: it refuses a locked-out sign-in before the password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# Failed sign-ins (the login page, the admin's, the API's token endpoint) are counted
# per username and client address together: a guesser is stopped after a few tries,
# but cannot lock a clerk out from their own office by failing from elsewhere.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = int(os.environ.get("UNIONFUNDS_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("UNIONFUNDS_LOGIN_COOLOFF_MINUTES", "15")))
AXES_RESET_ON_SUCCESS = True
# Tries during the lockout do not prolong it: the wait the page names is the wait.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "unionfunds.lockout.lockout_response"
# The same client address as the API's throttles (REST_FRAMEWORK["NUM_PROXIES"]).
AXES_CLIENT_IP_CALLABLE = "unionfunds.lockout.client_address"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Where `collectstatic` puts the files the site serves in production.
STATIC_ROOT = Path(os.environ.get("UNIONFUNDS_STATIC_ROOT", BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG or TESTING
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# In development and tests static files come straight from the app folders.
WHITENOISE_USE_FINDERS = WHITENOISE_AUTOREFRESH = DEBUG or TESTING

# Uploaded sheets and finished exports. On more than one machine this must be
# shared storage (a network volume or an object store behind STORAGES).
MEDIA_ROOT = Path(os.environ.get("UNIONFUNDS_MEDIA_ROOT", BASE_DIR / "var" / "media"))
if TESTING:
    MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="unionfunds-media-"))
MEDIA_URL = "media/"  # never served directly: downloads go through views that check the owner
# Uploaded lists and finished exports hold full ID numbers: only the app's own user
# may read them, whatever the process umask. Every save through the default storage
# (uploads and `job.output.save`) takes these modes.
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700

# Long imports and exports run in a worker (`manage.py worker`) that takes
# them from a database queue; tests run them in-process.
TASKS = {
    "default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}
    if TESTING or env_flag("UNIONFUNDS_TASKS_IMMEDIATE")
    else {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
}
# Lists shorter than this are exported in the request; longer ones by a worker, with progress.
UNIONFUNDS_EXPORT_INLINE_ROWS = int(os.environ.get("UNIONFUNDS_EXPORT_INLINE_ROWS", "20000"))
# A real-name list file: 100,000 rows of XLSX are about 6 MB; CSV about 12 MB.
UNIONFUNDS_UPLOAD_MAX_BYTES = int(os.environ.get("UNIONFUNDS_UPLOAD_MAX_BYTES", str(25 * 1024 * 1024)))
# A job whose worker has given no sign of life for this long (killed, out of memory, the
# machine restarted) and whose task is not waiting in the queue is failed by
# `unionfunds.jobs.recover`; a worker at work says so every sixth of it.
UNIONFUNDS_JOB_STALE_SECONDS = int(os.environ.get("UNIONFUNDS_JOB_STALE_SECONDS", "120"))

# E-mail to whoever must act next (allocations.notify): off unless the deployment has mail.
UNIONFUNDS_NOTIFY_EMAIL = env_flag("UNIONFUNDS_NOTIFY_EMAIL")
# Where the links in those mails point.
UNIONFUNDS_SITE_URL = os.environ.get("UNIONFUNDS_SITE_URL", "http://127.0.0.1:8000")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_flag("EMAIL_USE_TLS")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "webmaster@localhost")

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # DRF's, refusing a user who must first change a temporary password.
        "unionfunds.api.tokens.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["unionfunds.api.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "unionfunds.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "unionfunds.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["unionfunds.api.throttles.TokenRateThrottle"],
    # Per token (per user for browser sessions); the token endpoint has its own
    # limits, per client address and per username, against password guessing.
    "DEFAULT_THROTTLE_RATES": {
        "token": os.environ.get("UNIONFUNDS_API_RATE", "1200/minute"),
        "login": "20/minute",
        "login_username": "10/minute",
    },
    "COERCE_DECIMAL_TO_STRING": True,
    # The client address of throttles and of the sign-in lockout: behind one reverse
    # proxy, the last X-Forwarded-For entry (the one the proxy added); otherwise
    # REMOTE_ADDR. Never the whole header, which a client can fill with anything.
    "NUM_PROXIES": 1 if env_flag("DJANGO_BEHIND_PROXY") else 0,
}

# A real-name list of 10,000 rows with every column is about 2.5 MB of JSON.
DATA_UPLOAD_MAX_MEMORY_SIZE = 8 * 1024 * 1024

SPECTACULAR_SETTINGS = {
    "TITLE": "unionfunds API",
    "DESCRIPTION": "Relief funds of Chinese trade-union federations: funds, allocations, real-name disbursements.",
    "VERSION": "1",
    "SCHEMA_PATH_PREFIX": "/api/v1/",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    # The one PATCH (moving a federation) needs its body whole: no "Patched…" copy with nothing required.
    "COMPONENT_SPLIT_PATCH": False,
    # Choice sets that share a field name (`status`, `kind`): the first ones published keep their
    # names, so that clients generated before the archive still build; the archive's are named apart
    # (an archive change's status is a money entry's).
    "ENUM_NAME_OVERRIDES": {
        "StatusEnum": "allocations.models.Status",
        "KindEnum": "beneficiaries.models.UnitKind",
        "ArchiveStatusEnum": "beneficiaries.archive_models.ArchiveStatus",
        "ChangeKindEnum": "beneficiaries.archive_models.ChangeKind",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "unionfunds.api.schema.text_rules_hook",
    ],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

if not DEBUG:
    SESSION_COOKIE_SECURE = env_flag("DJANGO_SECURE_COOKIES", default=not TESTING)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
if not (DEBUG or TESTING):
    # Production is HTTPS only. Behind a proxy that ends TLS, it must set
    # X-Forwarded-Proto (and DJANGO_BEHIND_PROXY=1), or every request redirects.
    SECURE_SSL_REDIRECT = env_flag("DJANGO_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", str(365 * 24 * 3600)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_flag("DJANGO_HSTS_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env_flag("DJANGO_HSTS_PRELOAD", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # the load balancer probes over plain HTTP
    if env_flag("DJANGO_BEHIND_PROXY"):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content-Security-Policy: scripts and styles only from our own static files, no
# inline code at all. The Swagger UI page widens it for itself (unionfunds/api_urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # The handler has its own level: Django's loggers propagate here too and
    # would otherwise print their INFO lines twice.
    "handlers": {"console": {"class": "logging.StreamHandler", "level": os.environ.get("DJANGO_LOG_LEVEL", "WARNING")}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "WARNING")},
}

UNIONFUNDS_SITE_TITLE = _("Union relief funds")

if TESTING:
    # Hashing a password on purpose takes a third of a second; tests make hundreds.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
