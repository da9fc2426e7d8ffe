"""Text forms of reply values shared by the helpers (not a helper itself)."""

from __future__ import annotations

from typing import Any

from vpoller.request import encode_json


def value_text(value: Any) -> str:
    """A value as one piece of text: strings bare, ``None`` empty, anything else as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return encode_json(value).decode("utf-8")


def json_text(value: Any) -> str:
    """A value as compact JSON text, non-ASCII kept as is."""
    return encode_json(value).decode("utf-8")
