"""schemathesis hooks for ./dev fuzz and the in-suite schema test: what JSON Schema cannot say.

The server refuses any integer *literal* outside signed 64 bits anywhere in a JSON body,
also inside properties it would ignore (``marketplace.jsonsafe``, docs/security.md),
while ``1.5e21`` written as a float is read. JSON Schema judges values, not how they are
written, so no schema can state this; the fuzzer does not send such bodies, and
``tests/marketplace/test_bad_input_everywhere.py`` sends them to every operation instead.
"""

from __future__ import annotations

from typing import Any

import schemathesis

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


@schemathesis.hook
def filter_body(context: Any, body: Any) -> bool:
    return integers_fit_in_64_bits(body)
