"""WhiteNoise for static files, streamed without blocking under ASGI.

WhiteNoise's middleware answers with a ``FileResponse`` over a plain file, a synchronous
iterator: under ASGI Django then has to consume it in a thread and logs "StreamingHttpResponse
must consume synchronous iterators in order to serve them asynchronously" for every
static file. Under ASGI this middleware hands Django an asynchronous iterator instead,
reading the file in a worker thread chunk by chunk; under WSGI (the test client, the
management commands) WhiteNoise's own response is kept, since Django would warn the other
way round about an asynchronous iterator there.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import IO, Any

from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponseBase
from whitenoise.middleware import WhiteNoiseFileResponse, WhiteNoiseMiddleware

CHUNK_BYTES = 64 * 1024


async def _read_chunks(file: IO[bytes] | None) -> AsyncIterator[bytes]:
    if file is None:  # HEAD, 304: headers only
        return
    try:
        while chunk := await asyncio.to_thread(file.read, CHUNK_BYTES):
            yield chunk
    finally:
        file.close()


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """``whitenoise.middleware.WhiteNoiseMiddleware``, asynchronous bodies under ASGI."""

    def serve(self, static_file: Any, request: HttpRequest) -> HttpResponseBase:
        if not isinstance(request, ASGIRequest):
            return WhiteNoiseMiddleware.serve(static_file, request)
        response = static_file.get_response(request.method, request.META)
        http_response = WhiteNoiseFileResponse(status=int(response.status))
        del http_response["content-type"]
        for key, value in response.headers:
            http_response[key] = value
        http_response.streaming_content = _read_chunks(response.file)
        if response.file is not None:
            # If the client goes away mid-file the generator may never finish; Django
            # closes a response's resources when the request ends.
            http_response._resource_closers.append(response.file.close)
        return http_response
