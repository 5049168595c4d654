"""Logging filters that keep secrets out of logs."""

from __future__ import annotations

import logging
import re

_TOKEN_IN_QUERY = re.compile(r"([?&]token=)[^&\s\"']+")


def redact_query_tokens(text: str) -> str:
    """``/ws/courier/?token=abc&x=1`` → ``/ws/courier/?token=***&x=1``."""
    return _TOKEN_IN_QUERY.sub(r"\1***", text)


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
