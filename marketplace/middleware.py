"""Request middleware shared by the whole site."""

from __future__ import annotations

import os
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


class ChunkedBodyLengthMiddleware:
    """Give a chunked request body its Content-Length, so the API parses it.

    DRF treats a request without Content-Length as having no body. Under ASGI, Django
    has already spooled the whole body to a file (bounded by ``marketplace.asgi_limits``),
    so its length is known here: it is measured by seeking, not by reading
    ``request.body``, which Django refuses above ``DATA_UPLOAD_MAX_MEMORY_SIZE`` and which
    would pull a multipart photo upload into memory.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            "CONTENT_LENGTH" not in request.META
            and "chunked" in request.headers.get("Transfer-Encoding", "").lower()
        ):
            request.META["CONTENT_LENGTH"] = str(_body_length(request))
        return self.get_response(request)


def _body_length(request: HttpRequest) -> int:
    stream = request._stream  # the spooled body file under ASGI
    if hasattr(stream, "seekable") and stream.seekable():
        size = stream.seek(0, os.SEEK_END)
        stream.seek(0)
        return size
    return len(request.body)
