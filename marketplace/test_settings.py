"""Settings for the test suite: the real settings, with test-only speedups and isolation."""

import os

os.environ["DEBUG"] = "false"  # even when a developer's .env says otherwise
os.environ.setdefault("SECRET_KEY", "test-secret-key-" + "x" * 40)
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("PUBLIC_BASE_URL", "http://testserver")
# Tests get their own Redis databases so a flush never touches a running dev instance.
# TEST_ISOLATION_SLOT (1-7) lets several suites run side by side on one machine: each slot
# gets its own test database, Redis databases, channel prefix and worker cluster name.
# Slot s (unset = 0) uses db 15-s for the cache and channel layer and db 7-s for the task
# queue, so the eight slots fill Redis' sixteen databases without sharing one. Slots 6
# and 7 put their queue on dev's default databases (1 and 0): tests never run beside a
# dev server on those slots' data, and each test clears only the cache database.
_slot = os.environ.get("TEST_ISOLATION_SLOT", "")
if _slot and not (_slot.isdigit() and 1 <= int(_slot) <= 7):
    raise RuntimeError(f"TEST_ISOLATION_SLOT must be 1-7, not {_slot!r}; unset it to run alone.")
_suffix = f"_{_slot}" if _slot else ""
os.environ.setdefault("REDIS_URL", f"redis://127.0.0.1:6379/{15 - int(_slot or 0)}")
os.environ.setdefault("Q_REDIS_URL", f"redis://127.0.0.1:6379/{7 - int(_slot or 0)}")
os.environ.setdefault("REDIS_KEY_PREFIX", f"mptest{_suffix}")

from marketplace.settings import *  # noqa: E402, F403

# Hashing with the default PBKDF2 costs ~0.3 s per registration.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
Q_CLUSTER["name"] = f"marketplace-test{_suffix}"  # noqa: F405
DATABASES["default"]["TEST"] = {"NAME": f"test_marketplace{_suffix}"}  # noqa: F405
# Serve static files straight from the apps, so no collectstatic is needed in tests.
WHITENOISE_USE_FINDERS = True
STATIC_ROOT = None
# Race tests run 50 threads against the database at once; each needs its own connection.
if "pool" in DATABASES["default"].get("OPTIONS", {}):  # noqa: F405
    DATABASES["default"]["OPTIONS"]["pool"]["max_size"] = 60  # noqa: F405
    # ...and hands them back soon after (psycopg's default keeps idle ones for 10 min): a
    # whole suite holding 60 idle connections starves the other suites on the same server.
    DATABASES["default"]["OPTIONS"]["pool"]["max_idle"] = 10  # noqa: F405
