"""Stripe's request encoding (nested form fields, multipart uploads) and typed parameters."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from email.message import Message
from typing import Any

_KEY_PART = re.compile(r"\[([^\]]*)\]")


@dataclass
class Call:
    """One API request as the handlers see it."""

    params: Params
    args: tuple[str, ...] = ()
    # The Stripe-Account header: the connected account the call acts on.
    account: str | None = None
    base_url: str = ""


class StripeFailure(Exception):
    """An error answer in Stripe's shape: ``{"error": {type, code, message, param, ...}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"type": type, "message": message}
        if code:
            self.body["code"] = code
            self.body["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
        if param:
            self.body["param"] = param
        if decline_code:
            self.body["decline_code"] = decline_code
        self.body.update(extra or {})


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart request: the name the client gave it and its bytes."""

    filename: str
    content: bytes

    def fingerprint(self) -> str:
        """What an idempotency key remembers of the upload (its name and its bytes' hash)."""
        return f"{self.filename}:{hashlib.sha256(self.content).hexdigest()}"


def _header_param(value: str, name: str, *, header: str = "content-type") -> str | None:
    message = Message()
    message[header] = value
    found = message.get_param(name, header=header)
    return found if isinstance(found, str) else None


def decode_multipart(content_type: str, raw: bytes) -> list[tuple[str, str | Upload]]:
    """The fields of a ``multipart/form-data`` body (RFC 7578), as stripe-python sends a file
    upload: text parts as strings, file parts (those with a filename) as ``Upload``."""
    boundary = _header_param(content_type, "boundary")
    if not boundary:
        raise StripeFailure(400, "Invalid multipart/form-data request: no boundary.")
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    sections = (b"\r\n" + raw).split(delimiter)
    if len(sections) < 3 or not sections[-1].startswith(b"--"):
        raise StripeFailure(400, "Invalid multipart/form-data request: the body is cut short.")
    pairs: list[tuple[str, str | Upload]] = []
    for section in sections[1:-1]:
        head, separator, content = section.partition(b"\r\n\r\n")
        if not separator:
            raise StripeFailure(400, "Invalid multipart/form-data request: a part has no headers.")
        disposition = ""
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            if key.strip().lower() == "content-disposition":
                disposition = value.strip()
        name = _header_param(disposition, "name", header="content-disposition")
        if not name:
            raise StripeFailure(400, "Invalid multipart/form-data request: a part has no name.")
        filename = _header_param(disposition, "filename", header="content-disposition")
        if filename is None:
            pairs.append((name, content.decode("utf-8", "replace")))
        else:
            pairs.append((name, Upload(filename=filename, content=content)))
    return pairs


def _listify(value: Any) -> Any:
    """``{"0": a, "1": b}`` (how ``x[0]=a&x[1]=b`` decodes) becomes ``[a, b]``."""
    if isinstance(value, dict):
        converted = {key: _listify(item) for key, item in value.items()}
        if converted and all(key.isdigit() for key in converted):
            return [converted[key] for key in sorted(converted, key=int)]
        return converted
    return value


def decode_form(pairs: list[tuple[str, str | Upload]]) -> dict[str, Any]:
    """Nest ``metadata[job_id]=1``, ``expand[]=x`` and ``expand[0]=x`` (stripe-python's form)."""
    root: dict[str, Any] = {}
    for raw_key, value in pairs:
        head, _, rest = raw_key.partition("[")
        parts = [head, *_KEY_PART.findall("[" + rest)] if rest else [head]
        node = root
        for index, part in enumerate(parts):
            is_last = index == len(parts) - 1
            if part == "":
                part = str(len(node))
            if is_last:
                node[part] = value
            else:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = node[part] = {}
                node = child
    return _listify(root)


class Params:
    """One request's parameters: typed getters that fail the way Stripe does."""

    def __init__(self, data: dict[str, Any], *, allowed: set[str] | None = None) -> None:
        self.data = data
        if allowed is not None:
            for key in data:
                if key not in allowed and key != "expand":
                    raise StripeFailure(
                        400,
                        f"Received unknown parameter: {key}",
                        code="parameter_unknown",
                        param=key,
                    )

    def has(self, key: str) -> bool:
        return key in self.data and self.data[key] != ""

    def str(self, key: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self.data.get(key)
        if value is None or value == "":
            if required:
                raise StripeFailure(
                    400, f"Missing required param: {key}.", code="parameter_missing", param=key
                )
            return default
        if not isinstance(value, str):
            raise StripeFailure(
                400, f"Invalid string: {key}", code="parameter_invalid_string", param=key
            )
        return value

    def upload(self, key: str) -> Upload:
        """A required file part."""
        value = self.data.get(key)
        if value is None or value == "":
            raise StripeFailure(
                400, f"Missing required param: {key}.", code="parameter_missing", param=key
            )
        if not isinstance(value, Upload):
            raise StripeFailure(
                400,
                f"Invalid {key}: send it as a file part of a multipart/form-data request.",
                code="parameter_invalid",
                param=key,
            )
        return value

    def int(self, key: str, default: int | None = None, *, required: bool = False) -> int | None:
        value = self.str(key, required=required)
        if value is None:
            return default
        try:
            return int(value)
        except ValueError:
            raise StripeFailure(
                400,
                f"Invalid integer: {value}",
                code="parameter_invalid_integer",
                param=key,
            ) from None

    def bool(self, key: str, default: bool = False) -> bool:
        value = self.str(key)
        if value is None:
            return default
        if value not in ("true", "false"):
            raise StripeFailure(
                400, f"Invalid boolean: {value}", code="parameter_invalid", param=key
            )
        return value == "true"

    def dict(self, key: str) -> dict[str, Any]:
        value = self.data.get(key)
        if value is None or value == "":
            return {}
        if not isinstance(value, dict):
            raise StripeFailure(400, f"Invalid object: {key}", code="parameter_invalid", param=key)
        return value

    def metadata(self) -> dict[str, str]:
        metadata = self.dict("metadata")
        for key, value in metadata.items():
            if not isinstance(value, str):
                raise StripeFailure(
                    400,
                    "Invalid metadata value",
                    code="parameter_invalid",
                    param=f"metadata[{key}]",
                )
        return metadata

    def expand(self) -> list[str]:
        value = self.data.get("expand") or []
        return [value] if isinstance(value, str) else list(value)

    def created_filter(self) -> dict[str, int]:
        """``created[gte]=…`` (and gt/lt/lte), or ``created=…`` for an exact second."""
        value = self.data.get("created")
        if value is None:
            return {}
        if isinstance(value, str):
            return {"eq": self.int("created") or 0}
        bounds = {}
        for op in ("gt", "gte", "lt", "lte"):
            if op in value:
                try:
                    bounds[op] = int(value[op])
                except ValueError:
                    raise StripeFailure(
                        400,
                        "Invalid integer",
                        code="parameter_invalid_integer",
                        param=f"created[{op}]",
                    ) from None
        return bounds
