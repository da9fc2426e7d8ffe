"""Client requests and replies: parsing, normalisation and validation.

A request is one JSON object (SPEC.md). The old Python client sends every key,
unused ones as ``null``, so ``null`` always means "absent". This module turns
the raw object into a typed :class:`Request` and builds replies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from vpoller.constants import MAX_NAMES_PER_REQUEST, MAX_PROPERTIES_PER_REQUEST
from vpoller.errors import RequestError

Reply = dict[str, Any]

# Keys whose value is one string.
_STRING_KEYS = (
    "method",
    "hostname",
    "key",
    "username",
    "password",
    "instance",
    "perf-interval",
    "helper",
)
# Keys that accept one string or a list of strings (batched requests).
_STRING_OR_LIST_KEYS = ("name", "uuid", "moref", "counter-name")


SUCCESS_MSG = "Successfully retrieved object properties"


def success(result: Any, msg: str = SUCCESS_MSG) -> Reply:
    """Build a success reply carrying ``result``."""
    return {"success": 0, "msg": msg, "result": result}


def failure(msg: str) -> Reply:
    """Build an error reply whose ``msg`` says what went wrong."""
    return {"success": 1, "msg": msg}


def _string_list(key: str, value: Any, limit: int) -> tuple[str, ...]:
    """Accept a list of strings or a comma-separated string."""
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",")]
    elif isinstance(value, list):
        if not all(isinstance(item, str) for item in value):
            raise RequestError(f"'{key}' must be a list of strings")
        items = [item.strip() for item in value]
    else:
        raise RequestError(f"'{key}' must be a list of strings or a comma-separated string")
    items = [item for item in items if item]
    if len(items) > limit:
        raise RequestError(f"'{key}' has {len(items)} entries, more than the limit of {limit}")
    return tuple(items)


@dataclass(frozen=True)
class Request:
    """A validated client request; absent keys are ``None``."""

    method: str
    hostname: str
    name: str | tuple[str, ...] | None = None
    uuid: str | tuple[str, ...] | None = None
    moref: str | tuple[str, ...] | None = None
    properties: tuple[str, ...] | None = None
    key: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    counter_name: str | tuple[str, ...] | None = None
    instance: str | None = None
    max_sample: int = 1
    perf_interval: str | None = None
    helper: str | None = None

    @property
    def is_batch(self) -> bool:
        """True when several objects are named (``name``, ``uuid`` or ``moref`` a list)."""
        return any(isinstance(v, tuple) for v in (self.name, self.uuid, self.moref))

    @property
    def names(self) -> tuple[str, ...]:
        """The ``name`` key as a tuple, empty when absent."""
        return _as_tuple(self.name)

    @property
    def counters(self) -> tuple[str, ...]:
        """The ``counter-name`` key as a tuple, empty when absent."""
        return _as_tuple(self.counter_name)

    def has(self, key: str) -> bool:
        """True when the wire key ``key`` (e.g. ``counter-name``) was given."""
        return getattr(self, key.replace("-", "_"), None) is not None

    def redacted(self) -> dict[str, Any]:
        """The request as a dict safe to log: secrets replaced."""
        out: dict[str, Any] = {}
        for wire_key, attr in _WIRE_TO_ATTR.items():
            value = getattr(self, attr)
            if value is None:
                continue
            out[wire_key] = "***" if wire_key == "password" else value
        return out

    @classmethod
    def from_bytes(cls, frame: bytes) -> Request:
        """Parse one wire frame into a request, or raise :class:`RequestError`."""
        return cls.from_object(decode_json(frame))

    @classmethod
    def from_object(cls, obj: Any) -> Request:
        """Validate a decoded JSON value as a request."""
        if not isinstance(obj, Mapping):
            raise RequestError(f"Request must be a JSON object, got {_json_type(obj)}")
        values: dict[str, Any] = {}
        for key in _STRING_KEYS:
            value = obj.get(key)
            if value is None:
                continue
            if not isinstance(value, str):
                raise RequestError(f"'{key}' must be a string, got {_json_type(value)}")
            values[_WIRE_TO_ATTR[key]] = value
        for key in _STRING_OR_LIST_KEYS:
            value = obj.get(key)
            if value is None:
                continue
            if isinstance(value, str):
                values[_WIRE_TO_ATTR[key]] = value
            elif isinstance(value, list):
                values[_WIRE_TO_ATTR[key]] = _string_list(key, value, MAX_NAMES_PER_REQUEST)
            else:
                raise RequestError(f"'{key}' must be a string or a list of strings")
        props = obj.get("properties")
        if props is not None:
            values["properties"] = _string_list("properties", props, MAX_PROPERTIES_PER_REQUEST)
        values["max_sample"] = _max_sample(obj.get("max-sample"))
        for required in ("method", "hostname"):
            if not values.get(required):
                raise RequestError(f"Missing required key '{required}'")
        return cls(**values)


_WIRE_TO_ATTR = {
    "method": "method",
    "hostname": "hostname",
    "name": "name",
    "uuid": "uuid",
    "moref": "moref",
    "properties": "properties",
    "key": "key",
    "username": "username",
    "password": "password",
    "counter-name": "counter_name",
    "instance": "instance",
    "max-sample": "max_sample",
    "perf-interval": "perf_interval",
    "helper": "helper",
}

# Every request key of the wire format (the proxy also reads "timeout").
WIRE_KEYS = frozenset(_WIRE_TO_ATTR)
# The keys a request may carry besides "method" and "hostname".
OPTIONAL_KEYS = WIRE_KEYS - {"method", "hostname"}


def _as_tuple(value: str | tuple[str, ...] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return value


def _max_sample(value: Any) -> int:
    if value is None or value == "":
        return 1
    if isinstance(value, bool):
        raise RequestError("'max-sample' must be a positive integer")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise RequestError(f"'max-sample' must be a positive integer, got {value!r}") from None
    if number < 1:
        raise RequestError(f"'max-sample' must be a positive integer, got {number}")
    return number


def _json_type(value: Any) -> str:
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null"


def decode_json(frame: bytes) -> Any:
    """Decode a UTF-8 JSON frame, translating every failure to :class:`RequestError`."""
    try:
        return orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"Request is not valid JSON: {exc}") from None


def encode_json(value: Any) -> bytes:
    """Encode a reply as compact UTF-8 JSON (non-ASCII kept as is)."""
    return orjson.dumps(value, default=_fallback)


def _fallback(value: Any) -> Any:
    # Anything orjson cannot encode natively becomes its string form rather than
    # an exception, so one odd value never costs the whole reply.
    return str(value)


def decode_reply(frame: bytes) -> dict[str, Any] | str:
    """A reply frame as an object, or as text when a helper formatted it.

    The NUL that the C-oriented helpers append is not part of the value.
    """
    text = frame.decode("utf-8", errors="replace").rstrip("\x00")
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
    return value if isinstance(value, dict) else text
