"""The API's documentation pages (Swagger UI and ReDoc), served with local assets only.

Both pages load their scripts and styles from our static files (drf-spectacular-sidecar),
ReDoc's page without the stock template's Google Fonts links. A Content-Security-Policy
keeps the browser from fetching anything from another origin even when a bundle tries to
(ReDoc's side menu shows a logo from cdn.redoc.ly; blocked, it is simply not shown).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView
from rest_framework.request import Request
from rest_framework.response import Response

# Inline scripts and styles are the pages' own bootstrap code and the bundles' injected
# styles; blob: workers are ReDoc's search index.
DOCS_CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    ]
)


class _LocalOnly:
    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Content-Security-Policy"] = DOCS_CONTENT_SECURITY_POLICY
        return response


class SwaggerDocsView(_LocalOnly, SpectacularSwaggerView):
    """Swagger UI at ``/api/docs/``."""


class RedocDocsView(_LocalOnly, SpectacularRedocView):
    """ReDoc at ``/api/redoc/``, without web fonts."""

    template_name = "marketplace/api/redoc.html"
