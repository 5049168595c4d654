"""Logging filters that keep secrets out of logs."""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

# A query parameter: separator, key, "=", value (up to the next separator, space or quote).
_QUERY_PARAM = re.compile(r"([?&;])([^=&;?\s\"'#]*)=([^&;\s\"'#]*)")
SECRET_QUERY_KEYS = frozenset({"token"})
_MAX_UNQUOTE_ROUNDS = 5


def _canonical_key(raw: str) -> str:
    """The key as a server might read it: percent-decoded (repeatedly) and lower-cased."""
    key = raw
    for _ in range(_MAX_UNQUOTE_ROUNDS):
        decoded = unquote_plus(key)
        if decoded == key:
            break
        key = decoded
    return key.strip().lower()


def _redact(match: re.Match[str]) -> str:
    separator, key, value = match.groups()
    if value and _canonical_key(key) in SECRET_QUERY_KEYS:
        return f"{separator}{key}=***"
    return match.group(0)


def redact_query_tokens(text: str) -> str:
    """``/ws/courier/?token=abc&x=1`` → ``/ws/courier/?token=***&x=1``.

    The key is matched whatever its case or percent-encoding (``?%74oken=``, ``?TOKEN=``).
    """
    return _QUERY_PARAM.sub(_redact, text)


class RedactQueryTokens(logging.Filter):
    """Sockets may carry their API token as ``?token=``; the server logs the path."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_query_tokens(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def install_redaction(logger_names: tuple[str, ...] = ("uvicorn.error", "uvicorn.access")) -> None:
    """Attach the filter to the ASGI server's loggers (they log paths with query strings)."""
    for name in logger_names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactQueryTokens) for f in logger.filters):
            logger.addFilter(RedactQueryTokens())


class ClientErrorsAtInfo(logging.Filter):
    """Django logs every 4xx answer at WARNING; a client's mistake is not our warning.

    Attached to ``django.request``: 4xx records are lowered to INFO (so hostile or careless
    clients cannot flood the warnings), 5xx stay at ERROR.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and 400 <= status < 500 and record.levelno > logging.INFO:
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
            return logging.getLogger(record.name).isEnabledFor(logging.INFO)
        return True
