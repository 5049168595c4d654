"""The API's JSON body parser: ``marketplace.jsonsafe.loads`` behind DRF's parser interface.

It is REST_FRAMEWORK's default parser, so every JSON body has the same limits as socket
frames and JSON form fields (``marketplace.api.fields.json_field_value``): depth, 64-bit
integers, no NaN/Infinity, bounded size. A refused body is a 400 ``parse_error`` whose
message says why, e.g. "nested too deeply".

This module must not import ``marketplace.api.errors``: DRF imports the default parser
while ``rest_framework.views`` (which errors imports) is still loading.
"""

from __future__ import annotations

from typing import IO, Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, get_encoding

from marketplace import jsonsafe

PARSE_ERROR_PREFIX = "JSON parse error - "


class StrictJSONParser(JSONParser):
    """``application/json`` bodies, read by the strict loader (REST_FRAMEWORK's default)."""

    def parse(
        self,
        stream: IO[bytes],
        media_type: str | None = None,
        parser_context: dict[str, Any] | None = None,
    ) -> Any:
        encoding = get_encoding(parser_context or {})
        limit = settings.MAX_REQUEST_BODY_BYTES
        # One byte past the limit is enough to know the body is too large.
        raw = stream.read(limit + 1)
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            raise ParseError(f"{PARSE_ERROR_PREFIX}not {encoding} text ({exc.reason})") from None
        try:
            return jsonsafe.loads(text, max_bytes=limit)
        except jsonsafe.JSONRejected as exc:
            raise ParseError(PARSE_ERROR_PREFIX + exc.msg) from None
