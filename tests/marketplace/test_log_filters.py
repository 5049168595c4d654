"""Tokens carried in query strings are redacted from log lines."""

from __future__ import annotations

import logging

import pytest

from marketplace.log_filters import RedactQueryTokens, redact_query_tokens


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/ws/courier/?token=abc123", "/ws/courier/?token=***"),
        ("/ws/x/?a=1&token=abc&b=2", "/ws/x/?a=1&token=***&b=2"),
        ('"WebSocket /ws/courier/?token=k3y" 403', '"WebSocket /ws/courier/?token=***" 403'),
        ("/ws/courier/?mytoken=abc", "/ws/courier/?mytoken=abc"),
        ("no query here", "no query here"),
    ],
)
def test_redact_query_tokens(text: str, expected: str) -> None:
    assert redact_query_tokens(text) == expected


def test_filter_rewrites_formatted_records() -> None:
    record = logging.LogRecord(
        "uvicorn.error",
        logging.INFO,
        __file__,
        1,
        '%s - "WebSocket %s"',
        ("1.2.3.4", "/?token=s"),
        None,
    )

    assert RedactQueryTokens().filter(record) is True
    assert record.getMessage() == '1.2.3.4 - "WebSocket /?token=***"'
