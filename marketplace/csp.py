"""The Content-Security-Policy of our own pages: this server only, plus map tiles when set."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from django.conf import settings


def map_tile_origins() -> list[str]:
    """The origins MAP_TILE_URL loads tiles from (``{s}`` subdomains as a wildcard)."""
    if not settings.MAP_TILE_URL:
        return []
    parts = urlsplit(settings.MAP_TILE_URL.replace("{s}", "a"))
    origins = [f"{parts.scheme}://{parts.netloc.split('{')[0] or parts.netloc}"]
    if "{s}" in settings.MAP_TILE_URL:
        origins.append(f"{parts.scheme}://*.{parts.netloc.split('.', 1)[-1]}")
    return origins


def page_content_security_policy(*, connect_src: Sequence[str] = ("'self'",)) -> str:
    """Scripts, styles, images and requests from this server only (no inline code, no
    other origin but the tile server), no framing, forms posted back here only."""
    img = ["'self'", "data:", *map_tile_origins()]
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {' '.join(img)}",
            f"connect-src {' '.join(connect_src)}",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )
