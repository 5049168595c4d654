"""Settings for the courier marketplace, read from the environment.

Every value has a safe local default so `./dev run` works on a laptop with no
configuration. In production set at least SECRET_KEY, DEBUG=false, ALLOWED_HOSTS,
DATABASE_URL and REDIS_URL (the task queue defaults to the next Redis database, see
Q_REDIS_URL); README.md lists every variable.
"""

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use true or false.")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer.") from None


def env_float(name: str, default: float) -> float:
    raw = env_str(name)
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number.") from None


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

_DEV_SECRET_KEY = "django-insecure-local-development-only-never-use-in-production"
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY to a long random string "
            '(python -c "import secrets; print(secrets.token_urlsafe(50))"), '
            "or set DEBUG=true for local development."
        )
    SECRET_KEY = _DEV_SECRET_KEY


def secret_key_problem(key: str) -> str | None:
    """Why ``key`` is too weak for production, or None (the rules of Django's deploy check)."""
    if len(key) < 50:
        return f"is {len(key)} characters long; it needs at least 50"
    if len(set(key)) < 5:
        return f"has only {len(set(key))} distinct characters; it needs at least 5"
    if key.startswith("django-insecure-"):
        return "is a development key (it starts with django-insecure-)"
    return None


if not DEBUG and (_weak := secret_key_problem(SECRET_KEY)):
    raise ImproperlyConfigured(
        f"SECRET_KEY {_weak}. Set SECRET_KEY to a long random string "
        '(python -c "import secrets; print(secrets.token_urlsafe(50))").'
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.gis",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_q",
    "leaflet",
    "marketplace",
    "couriers",
    "jobs",
    "payments",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "marketplace.static_files.StaticFilesMiddleware",
    "marketplace.middleware.ChunkedBodyLengthMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "marketplace.urls"
ASGI_APPLICATION = "marketplace.asgi.application"
AUTH_USER_MODEL = "marketplace.User"

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

# --- Database: PostGIS -------------------------------------------------------------------

DATABASE_URL = env_str(
    "DATABASE_URL", "postgis://marketplace:marketplace@127.0.0.1:5432/marketplace"
)
_database = dj_database_url.parse(DATABASE_URL, conn_max_age=0, conn_health_checks=False)
if _database["ENGINE"] != "django.contrib.gis.db.backends.postgis":
    # postgres:// and postgresql:// URLs point at the same server; GeoDjango needs its backend.
    _database["ENGINE"] = "django.contrib.gis.db.backends.postgis"
# Under ASGI each request runs in its own thread, so Django's persistent connections
# would pile up; psycopg's pool keeps a few warm connections shared by all threads
# (a fresh connection costs ~10 ms here).
DB_POOL_MAX_SIZE = env_int("DB_POOL_MAX_SIZE", 10)
if DB_POOL_MAX_SIZE > 0:
    _database.setdefault("OPTIONS", {})["pool"] = {
        "min_size": min(2, DB_POOL_MAX_SIZE),
        "max_size": DB_POOL_MAX_SIZE,
        "timeout": env_int("DB_POOL_TIMEOUT", 10),
    }
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache (throttles) and channel layer on one database, the task queue on another --

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_KEY_PREFIX = env_str("REDIS_KEY_PREFIX", "mp")


def redis_url_with_db(url: str, db: int) -> str:
    """``url`` pointing at logical database ``db`` of the same server."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


def redis_db(url: str) -> int:
    path = urlsplit(url).path.strip("/")
    if not path:
        return 0
    if not path.isdigit():
        raise ImproperlyConfigured(f"{url!r}: the path must be a Redis database number.")
    return int(path)


# The task queue lives apart from the cache: an evicting cache (maxmemory-policy) or a
# cache.clear() must never drop queued tasks. By default it is the next database on the
# same server as REDIS_URL (db 1 for the default db 0).
Q_REDIS_URL = env_str("Q_REDIS_URL") or redis_url_with_db(REDIS_URL, (redis_db(REDIS_URL) + 1) % 16)


def redis_database_id(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.netloc.rsplit("@", 1)[-1], redis_db(url)


if redis_database_id(Q_REDIS_URL) == redis_database_id(REDIS_URL):
    raise ImproperlyConfigured(
        f"Q_REDIS_URL and REDIS_URL are the same database ({REDIS_URL}); the cache would "
        "drop queued tasks. Point Q_REDIS_URL at another database, e.g. "
        f"{redis_url_with_db(REDIS_URL, (redis_db(REDIS_URL) + 1) % 16)}."
    )

CACHES = {
    "default": {
        "BACKEND": "marketplace.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": REDIS_KEY_PREFIX,
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}

# Redis pub/sub layer: measured at ~4x the default layer's throughput on a 2-core
# machine. Here the default layer (channels-redis 4.3, redis-py 8) dropped
# messages to sockets idle past 5 s and left tasks blocked after sockets closed, which
# hung the server's graceful shutdown (tests/test_e2e.py guards both).
# Delivery is at most once; anything that must not be lost is also in the database.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, "socket_connect_timeout": 5}],
            "prefix": f"{REDIS_KEY_PREFIX}:asgi",
        },
    }
}

# Two django-q2 clusters share the broker, each with its own queue. The main one runs
# dispatch, offer expiry and every other platform task; the webhook one only sends shop
# webhooks, so a shop endpoint that hangs for WEBHOOK_TIMEOUT_SECONDS never delays an
# offer. A qcluster process runs the main cluster unless the environment says
# Q_CLUSTER_NAME=webhooks (django-q2 reads that variable and applies ALT_CLUSTERS).
WEBHOOK_CLUSTER = "webhooks"
Q_CLUSTER = {
    # The site name: signing salt and heartbeat prefix, shared by both clusters.
    "name": env_str("Q_SITE_NAME", "marketplace"),
    "workers": env_int("Q_WORKERS", 2),
    "timeout": 60,
    "retry": 90,
    "max_attempts": 5,
    "queue_limit": 200,
    "redis": Q_REDIS_URL,
    # django-q2's Redis broker, plus a heartbeat that says which queue a cluster serves.
    "broker_class": "marketplace.qbroker.RedisBroker",
    "catch_up": False,
    "label": "Background tasks",
    "ALT_CLUSTERS": {
        WEBHOOK_CLUSTER: {"workers": env_int("Q_WEBHOOK_WORKERS", 2)},
    },
}

# --- Auth, passwords, i18n -------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files: served by WhiteNoise, so Swagger UI and admin work offline -----------

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
MEDIA_URL = "media/"

# --- Request limits ----------------------------------------------------------------------

# Bodies above this are refused with 413 before Django reads them (marketplace.asgi).
MAX_REQUEST_BODY_BYTES = env_int("MAX_REQUEST_BODY_BYTES", 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES
# Every JSON document from a client (HTTP bodies, JSON form fields, socket frames) is read
# by marketplace.jsonsafe: at most this many levels of nested arrays/objects, integers
# within signed 64 bits, no NaN/Infinity.
JSON_MAX_DEPTH = env_int("JSON_MAX_DEPTH", 32)

# WebSocket frames: the largest JSON frame a socket accepts (uvicorn's WS_MAX_SIZE drops
# bigger ones before they arrive), and a token bucket per socket: WS_RATE_PER_SECOND frames
# a second on average, bursts of WS_RATE_BURST; frames over it get a rate_limited error,
# and WS_RATE_CLOSE_AFTER of them in a row close the socket with 4429. 0 turns it off.
WS_MAX_FRAME_BYTES = env_int("WS_MAX_FRAME_BYTES", 64 * 1024)
WS_RATE_PER_SECOND = env_float("WS_RATE_PER_SECOND", 20.0)
WS_RATE_BURST = env_int("WS_RATE_BURST", 60)
WS_RATE_CLOSE_AFTER = env_int("WS_RATE_CLOSE_AFTER", 100)

# --- REST API ----------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["marketplace.api.auth.TokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["marketplace.api.parsing.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "marketplace.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "marketplace.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "marketplace.api.schema.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
        "rest_framework.throttling.ScopedRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("THROTTLE_ANON", "120/min"),
        "user": env_str("THROTTLE_USER", "2400/min"),
        "auth": env_str("THROTTLE_AUTH", "30/min"),
    },
    # How many proxies in front of us append to X-Forwarded-For (throttles key on the
    # client address); 0 trusts only the socket address.
    "NUM_PROXIES": env_int("NUM_PROXIES", 0),
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Courier Marketplace API",
    "DESCRIPTION": (
        "Shops quote and post pickup → dropoff jobs, couriers accept and deliver them. "
        "Authenticate with `Authorization: Token <key>` from `POST /api/v1/auth/token/`. "
        'Every error is `{"code", "message", "fields"}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Swagger UI would otherwise show a badge image from validator.swagger.io.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "marketplace.api.schema.add_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "CourierStatusEnum": "couriers.models.CourierStatus",
        "VehicleEnum": "couriers.models.Vehicle",
        "CapacityEnum": "couriers.models.Capacity",
        "WebhookStatusEnum": "jobs.models.WebhookStatus",
        "JobStatusEnum": "jobs.models.JobStatus",
        "DeliveryOptionEnum": "jobs.models.DeliveryOption",
        "RecipientDeliveryOptionEnum": "jobs.tracking.rules.RECIPIENT_DELIVERY_OPTIONS",
        "DisputeReasonEnum": "payments.models.disputes.DisputeReason",
        "CourierDisputeReasonEnum": "payments.models.disputes.COURIER_REASON_CHOICES",
    },
}

# --- Marketplace tunables (each can be set from the environment) -----------------------

# Quotes and pricing
QUOTE_TTL_SECONDS = env_int("QUOTE_TTL_SECONDS", 300)
SURGE_RADIUS_M = env_int("SURGE_RADIUS_M", 3000)
# A quote's pickup ETA when no matchable courier is within the widest dispatch radius.
QUOTE_DEFAULT_PICKUP_ETA_SECONDS = env_int("QUOTE_DEFAULT_PICKUP_ETA_SECONDS", 900)
# Scheduled jobs are released to dispatch this long before their pickup window opens.
SCHEDULE_LEAD_TIME_SECONDS = env_int("SCHEDULE_LEAD_TIME_SECONDS", 900)

# ETAs: "straight_line" (distance x ROUTE_ROAD_FACTOR / vehicle speed) or an OSRM or
# Valhalla server at ROUTER_URL.
ROUTER = env_str("ROUTER", "straight_line")
ROUTER_URL = env_str("ROUTER_URL")
ROUTER_TIMEOUT_SECONDS = env_float("ROUTER_TIMEOUT_SECONDS", 2.0)
ROUTE_ROAD_FACTOR = env_float("ROUTE_ROAD_FACTOR", 1.3)
# Typical city speeds in metres per second, used by the straight-line router.
VEHICLE_SPEED_MPS = {"bike": 4.5, "scooter": 7.0, "car": 8.0, "van": 7.0}
# Implied speeds above these (m/s) flag a ping as implausible.
VEHICLE_MAX_SPEED_MPS = {"bike": 15.0, "scooter": 25.0, "car": 50.0, "van": 45.0}

# Proof of delivery
DELIVERY_GEOFENCE_M = env_int("DELIVERY_GEOFENCE_M", 150)
PIN_MAX_ATTEMPTS = env_int("PIN_MAX_ATTEMPTS", 5)
PROOF_PHOTO_MAX_BYTES = env_int("PROOF_PHOTO_MAX_BYTES", 5 * 1024 * 1024)

# Shop webhooks: retried with exponential backoff for this long.
WEBHOOK_RETRY_WINDOW_SECONDS = env_int("WEBHOOK_RETRY_WINDOW_SECONDS", 24 * 3600)
WEBHOOK_TIMEOUT_SECONDS = env_float("WEBHOOK_TIMEOUT_SECONDS", 5.0)
# Allow http:// webhook URLs and loopback/private targets (local development and tests);
# off in production, where URLs must be https:// to a public address.
WEBHOOK_ALLOW_INSECURE_URLS = env_bool("WEBHOOK_ALLOW_INSECURE_URLS", DEBUG)

# Courier positions
COURIER_STALE_AFTER_SECONDS = env_int("COURIER_STALE_AFTER_SECONDS", 120)
LOCATION_MAX_AGE_SECONDS = env_int("LOCATION_MAX_AGE_SECONDS", 300)
LOCATION_MAX_FUTURE_SECONDS = env_int("LOCATION_MAX_FUTURE_SECONDS", 30)
LOCATION_MAX_ACCURACY_M = env_float("LOCATION_MAX_ACCURACY_M", 100.0)
LOCATION_FLUSH_INTERVAL_MS = env_int("LOCATION_FLUSH_INTERVAL_MS", 250)
LOCATION_FLUSH_MAX_PINGS = env_int("LOCATION_FLUSH_MAX_PINGS", 500)
# Most fixes one socket message or REST request may carry.
LOCATION_BATCH_MAX_ITEMS = env_int("LOCATION_BATCH_MAX_ITEMS", 100)
LOCATION_RETENTION_DAYS = env_int("LOCATION_RETENTION_DAYS", 30)
TRACKING_BROADCAST_INTERVAL_SECONDS = env_float("TRACKING_BROADCAST_INTERVAL_SECONDS", 1.0)

# Dispatch
DISPATCH_MODE = env_str("DISPATCH_MODE", "sequential")  # or "broadcast"
DISPATCH_BROADCAST_SIZE = env_int("DISPATCH_BROADCAST_SIZE", 5)
DISPATCH_CANDIDATES = env_int("DISPATCH_CANDIDATES", 10)
DISPATCH_RADII_M = [int(r) for r in env_list("DISPATCH_RADII_M", "3000,6000,12000")]
OFFER_TTL_SECONDS = env_int("OFFER_TTL_SECONDS", 30)
# When every courier in reach holds another offer, dispatch tries the job again this much
# later instead of giving up (django-q2's scheduler adds up to ~30 s).
DISPATCH_RETRY_SECONDS = env_int("DISPATCH_RETRY_SECONDS", 5)
# Candidate score (lower is better): travel minutes to pickup, stars below 5, and the
# share of recent offers declined or ignored, each times its weight.
MATCH_WEIGHT_TRAVEL_MINUTES = env_float("MATCH_WEIGHT_TRAVEL_MINUTES", 1.0)
MATCH_WEIGHT_RATING = env_float("MATCH_WEIGHT_RATING", 2.0)
MATCH_WEIGHT_ACCEPTANCE = env_float("MATCH_WEIGHT_ACCEPTANCE", 3.0)

# --- Admin sign-in lockout (counted in Redis, so it holds across app nodes) ------------

# Failed admin sign-ins allowed per username, and per client address, before sign-in is
# refused (429) for ADMIN_LOGIN_LOCKOUT_SECONDS from the failure that reached the limit.
ADMIN_LOGIN_MAX_FAILURES = env_int("ADMIN_LOGIN_MAX_FAILURES", 5)
ADMIN_LOGIN_MAX_FAILURES_PER_ADDRESS = env_int("ADMIN_LOGIN_MAX_FAILURES_PER_ADDRESS", 20)
ADMIN_LOGIN_LOCKOUT_SECONDS = env_int("ADMIN_LOGIN_LOCKOUT_SECONDS", 900)
# --- Tracking links ------------------------------------------------------------------

# Where recipients open their links; tracking_url is built from it, never from the
# request's Host header. Required when DEBUG is off.
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL").rstrip("/")
if not PUBLIC_BASE_URL:
    if not DEBUG:
        raise ImproperlyConfigured(
            "PUBLIC_BASE_URL is not set. Set it to the address recipients open tracking "
            "links on, e.g. https://couriers.example.com"
        )
    PUBLIC_BASE_URL = f"http://{env_str('HOST', '127.0.0.1')}:{env_str('PORT', '8000')}"
if not PUBLIC_BASE_URL.startswith(("https://", "http://")):
    raise ImproperlyConfigured(f"PUBLIC_BASE_URL={PUBLIC_BASE_URL!r} must start with https://")
# A link stops working this long after its job is delivered, returned or cancelled.
TRACKING_LINK_TTL_HOURS = env_float("TRACKING_LINK_TTL_HOURS", 24.0)
# Requests (page, JSON, actions, socket connects) per link and per client address.
TRACKING_RATE_PER_TOKEN = env_str("TRACKING_RATE_PER_TOKEN", "60/min")
TRACKING_RATE_PER_ADDRESS = env_str("TRACKING_RATE_PER_ADDRESS", "120/min")
# A courier fix older than this is not shown to the recipient and makes the ETA "low".
TRACKING_LOCATION_FRESH_SECONDS = env_int("TRACKING_LOCATION_FRESH_SECONDS", 60)
# How far from the original drop-off a recipient may redirect the delivery.
RECIPIENT_MAX_REDIRECT_M = env_int("RECIPIENT_MAX_REDIRECT_M", 1000)

# --- Admin maps --------------------------------------------------------------------------

# Points are edited as latitude/longitude numbers, so the admin needs no internet. A
# Leaflet map (served from our own static files) shows the point beside them and draws
# tiles only when MAP_TILE_URL is set, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png
MAP_TILE_URL = env_str("MAP_TILE_URL")
MAP_TILE_ATTRIBUTION = env_str("MAP_TILE_ATTRIBUTION", "© OpenStreetMap contributors")

# --- Stripe gateway (payments.gateway) -----------------------------------------------------

STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY")
STRIPE_PUBLISHABLE_KEY = env_str("STRIPE_PUBLISHABLE_KEY")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET")
# Empty: api.stripe.com. ./dev run without a key points it at the loopback stand-in.
STRIPE_API_BASE = env_str("STRIPE_API_BASE")
STRIPE_TIMEOUT_SECONDS = env_float("STRIPE_TIMEOUT_SECONDS", 20.0)
# True when STRIPE_API_BASE is the project's Stripe stand-in (set by ./dev run); /healthz shows it.
STRIPE_STANDIN = env_bool("STRIPE_STANDIN", False)
STRIPE_STANDIN_PORT = env_int("STRIPE_STANDIN_PORT", 12111)
PLATFORM_CURRENCY = env_str("PLATFORM_CURRENCY", "eur").lower()

# --- Payments (ledger, flows) ------------------------------------------------------------

STRIPE_CONNECT_WEBHOOK_SECRET = env_str("STRIPE_CONNECT_WEBHOOK_SECRET")
# A card hold lasts about 7 days: jobs scheduled further out than this are authorised when
# they are released to dispatch instead of when they are posted.
PAYMENT_AUTH_WINDOW_HOURS = env_int("PAYMENT_AUTH_WINDOW_HOURS", 120)
# A job unassigned this long has its card hold released (a re-post authorises again).
PAYMENT_UNASSIGNED_HOLD_MINUTES = env_int("PAYMENT_UNASSIGNED_HOLD_MINUTES", 60)
# A scheduled job whose hold would lapse (capture_before) less than this after its release
# has the hold released now and authorised again at release.
PAYMENT_HOLD_MARGIN_HOURS = env_int("PAYMENT_HOLD_MARGIN_HOURS", 24)
# The courier's share of a cancellation fee (the rest is platform revenue).
CANCELLATION_COURIER_SHARE_PERCENT = env_int("CANCELLATION_COURIER_SHARE_PERCENT", 100)
TIP_WINDOW_DAYS = env_int("TIP_WINDOW_DAYS", 7)
# Money commands: how often a failing Stripe call is retried, and when a running command
# whose worker vanished (killed mid-call) is handed to another worker.
PAYMENT_COMMAND_MAX_ATTEMPTS = env_int("PAYMENT_COMMAND_MAX_ATTEMPTS", 8)
PAYMENT_COMMAND_STALE_SECONDS = env_int("PAYMENT_COMMAND_STALE_SECONDS", 120)
# Where Stripe sends a courier back to after (or to restart) Connect onboarding.
PAYOUTS_ONBOARDING_RETURN_URL = env_str(
    "PAYOUTS_ONBOARDING_RETURN_URL", "http://localhost:8000/payouts/return"
)
PAYOUTS_ONBOARDING_REFRESH_URL = env_str(
    "PAYOUTS_ONBOARDING_REFRESH_URL", "http://localhost:8000/payouts/refresh"
)
PAYOUTS_ACCOUNT_COUNTRY = env_str("PAYOUTS_ACCOUNT_COUNTRY", "DE")

# --- Disputes -----------------------------------------------------------------------------

# A dispute may be opened until this many days after the job ended.
DISPUTE_WINDOW_DAYS = env_int("DISPUTE_WINDOW_DAYS", 14)
# How long the courier has to reply before the dispute goes to review without them.
DISPUTE_COURIER_REPLY_HOURS = env_int("DISPUTE_COURIER_REPLY_HOURS", 48)
# Staff should decide within this many hours of opening; later ones are flagged.
DISPUTE_REVIEW_SLA_HOURS = env_int("DISPUTE_REVIEW_SLA_HOURS", 72)
# The largest refund (all parts together, minor units) the support group may make.
DISPUTE_SUPPORT_REFUND_LIMIT_MINOR = env_int("DISPUTE_SUPPORT_REFUND_LIMIT_MINOR", 5000)

# --- Security: strict unless DEBUG -------------------------------------------------------

SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("TRUST_X_FORWARDED_PROTO", False) else None
)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# Load balancers probe health over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# gis.W001 asks for GDAL >= 3.9 to block file and network access while parsing spatial
# reference text. Debian 12 ships 3.6. The API builds geometries from numbers with a
# fixed SRID and never parses client-supplied WKT, GeoJSON CRS or SRS text.
SILENCED_SYSTEM_CHECKS = ["gis.W001"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"client_errors_at_info": {"()": "marketplace.log_filters.ClientErrorsAtInfo"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "django.request": {"filters": ["client_errors_at_info"]},
        # stripe-python logs two INFO lines per request; its errors reach us as exceptions.
        "stripe": {"level": env_str("STRIPE_LOG_LEVEL", "WARNING")},
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
