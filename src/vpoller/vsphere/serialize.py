"""vSphere values -> plain JSON values (SPEC: "vSphere data objects must serialise").

pyVmomi hands back data objects, managed object references, enums, typed
numbers, binary blobs and timezone-aware datetimes. :func:`to_json` turns any
of them into dicts, lists, strings, numbers, booleans and ``None`` that the
reply encoder writes without a fallback. It runs on every property of every
reply, so the per-class field lists are computed once and cached.
"""

from __future__ import annotations

import base64
import datetime
from typing import Any

from pyVmomi import VmomiSupport

# Fields every data object carries that only describe the wire encoding.
_NOISE_FIELDS = frozenset({"dynamicType", "dynamicProperty"})

_DataObject = VmomiSupport.DataObject
_ManagedObject = VmomiSupport.ManagedObject
_get_vmodl_name: Any = VmomiSupport.GetVmodlName  # untyped in pyVmomi

# Exact classes passed through untouched (subclasses such as pyVmomi's enums,
# ``long`` or ``double`` are normalised to the base type instead).
_PLAIN = frozenset({str, int, float, bool})

# Data object class -> the names of its fields worth serialising.
_FIELDS: dict[Any, tuple[str, ...]] = {}


def _fields(cls: Any) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:
        names = tuple(
            prop.name for prop in cls._GetPropertyList() if prop.name not in _NOISE_FIELDS
        )
        _FIELDS[cls] = names
    return names


# One flat chain of type tests is the fastest dispatch on this hot path.
def to_json(value: Any) -> Any:  # noqa: PLR0911, PLR0912
    """Convert a pyVmomi value (or a structure holding them) to a JSON-compatible value.

    - data objects become dicts of their set fields (``None`` fields and the
      ``dynamicType``/``dynamicProperty`` noise dropped);
    - managed object references become their moref id, e.g. ``"vm-42"``;
    - datetimes become ISO 8601 strings, binary becomes base64 text;
    - arrays and tuples become lists, enums and other ``str`` kinds plain strings;
    - types and methods become their vmodl names; anything else unknown its ``str``.
    """
    # Ordered by how often each kind shows up in property values.
    if value is None or value.__class__ in _PLAIN:
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, _DataObject):
        out: dict[str, Any] = {}
        for name in _fields(value.__class__):
            field = getattr(value, name)
            if field is not None:
                out[name] = to_json(field)
        return out
    if isinstance(value, _ManagedObject):
        return value._moId
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {str(key): to_json(item) for key, item in value.items()}
    if isinstance(value, type):
        return _type_name(value)
    return str(value)


def _type_name(cls: type) -> str:
    try:
        return str(_get_vmodl_name(cls))
    except (AttributeError, KeyError):
        return cls.__name__


def attribute(obj: Any, path: str) -> Any:
    """``obj`` followed along the dotted field ``path``; None when a step is missing.

    Only for data objects already fetched (property-collector results): on a
    managed object each step would be a lazy server read.
    """
    for part in path.split("."):
        if part.startswith("_"):
            return None
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj
