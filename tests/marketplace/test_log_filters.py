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
        ("/ws/courier/?%74oken=abc123", "/ws/courier/?%74oken=***"),
        ("/ws/courier/?%74%6F%6B%65%6E=abc", "/ws/courier/?%74%6F%6B%65%6E=***"),
        ("/ws/courier/?TOKEN=abc", "/ws/courier/?TOKEN=***"),
        ("/ws/courier/?ToKeN=abc&x=1", "/ws/courier/?ToKeN=***&x=1"),
        ("/ws/courier/?%2574oken=abc", "/ws/courier/?%2574oken=***"),  # encoded twice
        ("/ws/x/?a=1;token=abc", "/ws/x/?a=1;token=***"),
        ("/ws/x/?token=a%20b c", "/ws/x/?token=*** c"),
        ("/ws/x/?tokens=abc&token2=def", "/ws/x/?tokens=abc&token2=def"),
        ('"GET /ws/?%54OKEN=k3y HTTP/1.1" 101', '"GET /ws/?%54OKEN=*** HTTP/1.1" 101'),
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
