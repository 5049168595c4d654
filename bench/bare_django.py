"""A bare Django view behind the project's settings and middleware: the API's Django ceiling.

Run by bench.api as ``uvicorn bench.bare_django:application``. Every path answers a small
JSON body from a plain function view (no DRF, no authentication lookup, no database), so
it measures uvicorn + Django's ASGI handler + the middleware stack and nothing else.
"""

from __future__ import annotations

import os

from django.http import HttpRequest, JsonResponse
from django.urls import re_path
from django.views.decorators.csrf import csrf_exempt

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")


@csrf_exempt  # as DRF's views are: token-authenticated API calls carry no CSRF cookie
def bare(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True, "path": request.path})


urlpatterns = [re_path(r"^.*$", bare)]

from django.core.asgi import get_asgi_application  # noqa: E402 - needs the module above

application = get_asgi_application()

from django.conf import settings  # noqa: E402

settings.ROOT_URLCONF = __name__
