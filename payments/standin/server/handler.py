"""The stand-in's HTTP request handler: decode a request, answer it as JSON."""

from __future__ import annotations

import json
import logging
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from payments.standin.forms import StripeFailure, Upload, decode_form, decode_multipart

if TYPE_CHECKING:
    from payments.standin.server.standin import StandinServer

logger = logging.getLogger(__name__)


class RequestHandler(BaseHTTPRequestHandler):
    standin: StandinServer
    server_version = "StripeStandin/1.0"
    protocol_version = "HTTP/1.1"
    # Headers and body go out as separate writes; without this, delayed ACKs stall each
    # keep-alive request by ~40 ms.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("stand-in: " + format, *args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {key.lower(): value for key, value in self.headers.items()}
        try:
            if url.path.startswith("/_standin/"):
                status, body, extra = self.standin.handle_helper(
                    method=method, path=url.path, body=self._helper_body(raw, url.query)
                )
            else:
                pairs: list[tuple[str, str | Upload]] = []
                pairs += urllib.parse.parse_qsl(url.query, keep_blank_values=True)
                content_type = headers.get("content-type", "")
                if raw and content_type.lower().startswith("multipart/form-data"):
                    pairs += decode_multipart(content_type, raw)
                elif raw:
                    pairs += urllib.parse.parse_qsl(raw.decode(), keep_blank_values=True)
                status, body, extra = self.standin.handle_api(
                    method=method,
                    path=url.path.rstrip("/"),
                    params=decode_form(pairs),
                    headers=headers,
                )
        except StripeFailure as failure:
            status, body, extra = failure.status, {"error": failure.body}, {}
        except (KeyError, ValueError, json.JSONDecodeError) as exc:
            status, body, extra = (
                400,
                {"error": {"type": "invalid_request_error", "message": f"bad request: {exc!r}"}},
                {},
            )
        payload = json.dumps(body, indent=2).encode()
        self.send_response(
            status, HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else None
        )
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    @staticmethod
    def _helper_body(raw: bytes, query: str) -> dict[str, Any]:
        body: dict[str, Any] = dict(urllib.parse.parse_qsl(query))
        if raw.strip():
            text = raw.decode()
            if text.lstrip().startswith("{"):
                body.update(json.loads(text))
            else:
                body.update(urllib.parse.parse_qsl(text, keep_blank_values=True))
        return body
