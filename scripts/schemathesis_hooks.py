"""schemathesis hooks for ./dev fuzz and the in-suite schema test: what JSON Schema cannot say.

Our error envelope, for schemathesis' reader of server errors: DRF's per-field messages sit
under ``fields`` (``{"code", "message", "fields": {<field>: [...]}}``), not at the top of
the body. Read as a bare DRF error, ``fields`` looked like a request property, and the
fuzzer learnt rules for a property that does not exist (docs/fuzzing.md).

The server refuses any integer *literal* outside signed 64 bits anywhere in a JSON body,
also inside properties it would ignore (``marketplace.jsonsafe``, docs/security.md),
while ``1.5e21`` written as a float is read. JSON Schema judges values, not how they are
written, so no schema can state this; the fuzzer does not send such bodies, and
``tests/marketplace/test_bad_input_everywhere.py`` sends them to every operation instead.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis.core.error_feedback.parsers import PARSERS
from schemathesis.core.error_feedback.parsers.drf import DRFParser

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def integers_fit_in_64_bits(value: Any) -> bool:
    """True when every integer in ``value`` (nested in lists and objects) fits in 64 bits."""
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return INT64_MIN <= value <= INT64_MAX
    if isinstance(value, dict):
        return all(integers_fit_in_64_bits(item) for item in value.values())
    if isinstance(value, list | tuple):
        return all(integers_fit_in_64_bits(item) for item in value)
    return True


ERROR_KEYS = frozenset({"code", "message", "fields"})


@PARSERS.register
class MarketplaceErrorParser:
    """Our ``Error`` envelope: DRF's field messages, one level down, under ``fields``.

    Tried before schemathesis' own parsers (higher priority), it hands DRF's parser the
    ``fields`` object, so a message about ``first_name`` is about the request's
    ``first_name``, not about ``fields.first_name``.
    """

    priority = DRFParser.priority + 100

    def __init__(self) -> None:
        self._drf = DRFParser()

    def can_parse(self, *, body: object) -> bool:
        return (
            isinstance(body, dict)
            and body.keys() == ERROR_KEYS
            and isinstance(body["fields"], dict)
        )

    def parse(self, *, operation: Any, body: Any, case: Any) -> tuple[Any, ...]:
        fields = body["fields"]
        if not self._drf.can_parse(body=fields):
            return ()
        return self._drf.parse(operation=operation, body=fields, case=case)


@schemathesis.hook
def filter_body(context: Any, body: Any) -> bool:
    return integers_fit_in_64_bits(body)
