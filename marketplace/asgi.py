"""The one ASGI app: HTTP (Django) and WebSockets (Channels) on the same port.

Run it with ``uvicorn marketplace.asgi:application`` (``./dev run`` does).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")
django_asgi_app = get_asgi_application()  # sets Django up before the imports below

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import path  # noqa: E402

from couriers.consumers import CourierConsumer  # noqa: E402
from jobs.tracking.consumers import ShopConsumer, TrackingConsumer  # noqa: E402
from marketplace.asgi_limits import BodySizeLimit  # noqa: E402
from marketplace.log_filters import install_redaction  # noqa: E402
from marketplace.realtime.auth import TokenAuthMiddleware  # noqa: E402

install_redaction()

websocket_urlpatterns = [
    path("ws/courier/", CourierConsumer.as_asgi()),
    path("ws/shop/", ShopConsumer.as_asgi()),
    path("ws/track/<str:token>/", TrackingConsumer.as_asgi()),
]

application = ProtocolTypeRouter(
    {
        "http": BodySizeLimit(django_asgi_app, max_bytes=settings.MAX_REQUEST_BODY_BYTES),
        # No Origin check: sockets authenticate with a token, never a cookie, so a foreign
        # page has nothing to hijack, and native courier apps send no Origin header.
        "websocket": TokenAuthMiddleware(URLRouter(websocket_urlpatterns)),
    }
)
