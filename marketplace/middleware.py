"""Request middleware shared by the whole site."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


class ChunkedBodyLengthMiddleware:
    """Give a chunked request body its Content-Length, so the API parses it.

    DRF treats a request without Content-Length as having no body. Under ASGI, Django
    has already read the whole body (bounded by ``marketplace.asgi_limits``), so its
    length is known here.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            "CONTENT_LENGTH" not in request.META
            and "chunked" in request.headers.get("Transfer-Encoding", "").lower()
        ):
            request.META["CONTENT_LENGTH"] = str(len(request.body))
        return self.get_response(request)
