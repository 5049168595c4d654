"""The one strict JSON reader and writer for everything a client sends or receives.

Every JSON document that comes from outside (HTTP bodies, JSON strings inside multipart
fields, WebSocket frames) is read by ``loads``. Compared with ``json.loads`` it refuses:

- documents larger than ``max_bytes``;
- nesting deeper than ``JSON_MAX_DEPTH`` arrays/objects (default 32), checked *before*
  parsing, so a hostile ``[[[[…`` never reaches the recursive decoder (which otherwise
  raises ``RecursionError`` at ~1,000 levels);
- integers outside the signed 64-bit range (which also keeps 5,000-digit numbers away
  from ``int()``);
- ``NaN``, ``Infinity`` and ``-Infinity`` (not JSON) and numbers that overflow a float
  (``1e400`` would become infinity).

Every refusal is a ``JSONRejected`` (a ``ValueError``) whose ``msg`` says what was wrong
in words a client can act on; ``reason`` is a stable machine-readable word.
``dumps`` never writes ``NaN`` or infinities either.
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

from django.conf import settings

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# The longest integer literal that can be in range: "-9223372036854775808".
_INT64_MAX_CHARS = len(str(INT64_MIN))
DEFAULT_MAX_DEPTH = 32

# A JSON string (escapes included), or a run of characters that are neither brackets nor
# quotes. Removing both leaves only the brackets outside strings (and stray quotes).
_STRING_OR_FILLER = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[^\[\]{}"]+', re.DOTALL)
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class JSONRejected(ValueError):
    """A document ``loads`` refuses: malformed, too large, too deep or out of range."""

    def __init__(self, msg: str, *, reason: str, lineno: int | None = None) -> None:
        super().__init__(msg)
        self.msg = msg
        self.reason = reason  # syntax | too_large | too_deep | integer_range | number_range
        self.lineno = lineno  # where a syntax error is, when known


def max_depth() -> int:
    return getattr(settings, "JSON_MAX_DEPTH", DEFAULT_MAX_DEPTH)


def nesting_depth(text: str) -> int:
    """How deeply arrays and objects nest in ``text`` (brackets inside strings don't count).

    For malformed text this may overcount (an unterminated string's brackets are counted),
    never undercount what the decoder would descend into before it stops.
    """
    return _depth_of(_STRING_OR_FILLER.sub("", text))


def _depth_of(brackets: str) -> int:
    return max(accumulate((_DEPTH_STEP.get(char, 0) for char in brackets), initial=0))


def _is_too_deep(text: str, limit: int) -> bool:
    brackets = _STRING_OR_FILLER.sub("", text)
    # Most documents have fewer brackets in all than the limit: no need to walk them.
    if brackets.count("[") + brackets.count("{") <= limit:
        return False
    return _depth_of(brackets) > limit


def _parse_int(literal: str) -> int:
    if len(literal) > _INT64_MAX_CHARS:
        raise JSONRejected(
            "integer out of range (integers must fit in a signed 64-bit integer)",
            reason="integer_range",
        )
    value = int(literal)
    if not INT64_MIN <= value <= INT64_MAX:
        raise JSONRejected(
            "integer out of range (integers must fit in a signed 64-bit integer)",
            reason="integer_range",
        )
    return value


def _parse_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise JSONRejected("number out of range", reason="number_range")
    return value


def _parse_constant(name: str) -> Any:
    raise JSONRejected(f"{name} is not a JSON number", reason="number_range")


def loads(
    data: str | bytes, *, max_bytes: int | None = None, depth_limit: int | None = None
) -> Any:
    """Parse one JSON document strictly; raise ``JSONRejected`` when it is refused.

    ``max_bytes`` defaults to ``MAX_REQUEST_BODY_BYTES``; ``depth_limit`` to
    ``JSON_MAX_DEPTH``.
    """
    limit = settings.MAX_REQUEST_BODY_BYTES if max_bytes is None else max_bytes
    depth_limit = max_depth() if depth_limit is None else depth_limit
    if isinstance(data, bytes | bytearray):
        size = len(data)
        if size > limit:
            raise JSONRejected(f"larger than {limit} bytes", reason="too_large")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise JSONRejected("not UTF-8 text", reason="syntax") from None
    else:
        text = data
        # Characters never outnumber UTF-8 bytes, so only long text needs encoding.
        if len(text) > limit or (len(text) * 4 > limit and len(text.encode("utf-8")) > limit):
            raise JSONRejected(f"larger than {limit} bytes", reason="too_large")
    if _is_too_deep(text, depth_limit):
        raise JSONRejected(
            f"nested too deeply (more than {depth_limit} levels of arrays and objects)",
            reason="too_deep",
        )
    try:
        return json.loads(
            text,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_parse_constant,
        )
    except json.JSONDecodeError as exc:
        raise JSONRejected(exc.msg, reason="syntax", lineno=exc.lineno) from None


def dumps(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` that refuses NaN and infinities (``ValueError``) instead of writing them."""
    return json.dumps(value, allow_nan=False, **kwargs)
