"""The stand-in's HTTP side: routing, API keys, idempotency keys, test helpers, start/stop."""

from payments.standin.server.api import IDEMPOTENCY_KEY_TTL_SECONDS, ApiRequests
from payments.standin.server.handler import RequestHandler
from payments.standin.server.helpers import HelperRequests
from payments.standin.server.routes import ROUTES, Handler
from payments.standin.server.standin import StandinServer

__all__ = [
    "IDEMPOTENCY_KEY_TTL_SECONDS",
    "ROUTES",
    "ApiRequests",
    "Handler",
    "HelperRequests",
    "RequestHandler",
    "StandinServer",
]
