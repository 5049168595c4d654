"""``test_specifications`` of a sandbox job: its strict shape, parsed once, stored as given."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rest_framework import serializers

# How long the built-in robo courier waits between two steps, in seconds.
STEP_DELAY_MIN_S = 0
STEP_DELAY_MAX_S = 600
STEP_DELAY_DEFAULT_S = 30
MODES = ("auto", "manual")
FAIL_AT = ("pickup", "dropoff")

_SPEC_KEYS = {"robo_courier"}
_ROBO_KEYS = {"mode", "step_delay_s", "fail_at"}


@dataclass(frozen=True)
class RoboSpec:
    """How the built-in robo courier handles the job.

    ``auto``: it takes the job and walks it, one step every ``step_delay_s`` seconds.
    ``manual``: it takes the job only when the shop advances it (``sandbox/jobs/{id}/
    advance/``), one step per call. ``fail_at``: the delivery fails after pickup or at the
    dropoff, and the package goes back to the shop.
    """

    mode: str = "auto"
    step_delay_s: int = STEP_DELAY_DEFAULT_S
    fail_at: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "step_delay_s": self.step_delay_s, "fail_at": self.fail_at}


def _refuse(field: str, message: str) -> None:
    raise serializers.ValidationError({field: [message]})


def _unknown(given: dict, known: set[str], prefix: str) -> None:
    extra = sorted(str(key) for key in given if key not in known)
    if extra:
        _refuse(f"{prefix}.{extra[0]}", f"Unknown field; use {', '.join(sorted(known))}.")


def test_specifications_parse(raw: Any) -> dict[str, Any]:
    """The normalised ``test_specifications`` (defaults filled in), or a ValidationError
    whose one field is the dotted path of what is wrong (e.g.
    ``test_specifications.robo_courier.step_delay_s``)."""
    name = "test_specifications"
    if not isinstance(raw, dict):
        _refuse(name, "Must be an object.")
    _unknown(raw, _SPEC_KEYS, name)
    if "robo_courier" not in raw:
        _refuse(f"{name}.robo_courier", "This field is required.")
    robo = raw["robo_courier"]
    prefix = f"{name}.robo_courier"
    if not isinstance(robo, dict):
        _refuse(prefix, "Must be an object.")
    _unknown(robo, _ROBO_KEYS, prefix)
    mode = robo.get("mode", "auto")
    if not isinstance(mode, str) or mode not in MODES:
        _refuse(f"{prefix}.mode", f"Must be one of: {', '.join(MODES)}.")
    delay = robo.get("step_delay_s", STEP_DELAY_DEFAULT_S)
    if isinstance(delay, bool) or not isinstance(delay, int):
        _refuse(f"{prefix}.step_delay_s", "A whole number of seconds is required.")
    if not STEP_DELAY_MIN_S <= delay <= STEP_DELAY_MAX_S:
        _refuse(
            f"{prefix}.step_delay_s",
            f"Must be between {STEP_DELAY_MIN_S} and {STEP_DELAY_MAX_S} seconds.",
        )
    fail_at = robo.get("fail_at")
    if fail_at is not None and (not isinstance(fail_at, str) or fail_at not in FAIL_AT):
        _refuse(f"{prefix}.fail_at", f"Must be null or one of: {', '.join(FAIL_AT)}.")
    return {"robo_courier": RoboSpec(mode, delay, fail_at).as_json()}


def robo_spec_of(test_specifications: dict[str, Any] | None) -> RoboSpec | None:
    """The stored ``robo_courier`` part of a job's ``test_specifications``, if any."""
    robo = (test_specifications or {}).get("robo_courier")
    if not robo:
        return None
    return RoboSpec(robo["mode"], robo["step_delay_s"], robo["fail_at"])


class RoboCourierSpecSerializer(serializers.Serializer):
    """For the schema: what ``test_specifications.robo_courier`` holds."""

    mode = serializers.ChoiceField(
        choices=MODES,
        default="auto",
        help_text=(
            "auto: the built-in robo courier takes the job and walks it to the end; manual: "
            "it moves only when you call POST /api/v1/sandbox/jobs/{id}/advance/."
        ),
    )
    step_delay_s = serializers.IntegerField(
        min_value=STEP_DELAY_MIN_S,
        max_value=STEP_DELAY_MAX_S,
        default=STEP_DELAY_DEFAULT_S,
        help_text="auto: seconds between two steps.",
    )
    fail_at = serializers.ChoiceField(
        choices=FAIL_AT,
        allow_null=True,
        default=None,
        help_text=(
            "null: delivered. pickup: fails right after pickup; dropoff: fails at the "
            "dropoff; either way the package goes back (returning, returned)."
        ),
    )


class TestSpecificationsSerializer(serializers.Serializer):
    """For the schema: ``test_specifications`` (sandbox shops only; unknown keys are a 400)."""

    robo_courier = RoboCourierSpecSerializer()
