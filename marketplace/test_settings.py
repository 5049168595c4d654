"""Settings for the test suite: the real settings, with test-only speedups and isolation."""

import os

os.environ["DEBUG"] = "false"  # even when a developer's .env says otherwise
os.environ.setdefault("SECRET_KEY", "test-secret-key-" + "x" * 40)
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
# Tests get their own Redis database so a flush never touches a running dev instance.
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("REDIS_KEY_PREFIX", "mptest")

from marketplace.settings import *  # noqa: F403

# Hashing with the default PBKDF2 costs ~0.3 s per registration.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
Q_CLUSTER["name"] = "marketplace-test"  # noqa: F405
# Serve static files straight from the apps, so no collectstatic is needed in tests.
WHITENOISE_USE_FINDERS = True
STATIC_ROOT = None
