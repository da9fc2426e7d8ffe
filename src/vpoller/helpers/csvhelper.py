"""The ``vpoller.helpers.csvhelper`` helper: the result as CSV with a header row.

The header is the union of the result rows' keys in first-seen order; a row
lacking a key gets an empty cell. Strings are written bare, ``None`` as an empty
cell, everything else (numbers, booleans, nested objects and lists) as JSON
text. Quoting follows the stdlib :mod:`csv` module's default dialect (RFC 4180,
``\\r\\n`` line ends). A result that is one object makes one row; an item that is
not an object becomes a row with a single ``value`` column. A failed reply
becomes its ``msg``; an empty result an empty string.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

from vpoller.helpers._text import value_text
from vpoller.request import Reply, Request


def _rows(result: Any) -> list[Mapping[str, Any]]:
    items = result if isinstance(result, list) else [result]
    return [item if isinstance(item, Mapping) else {"value": item} for item in items]


def format(request: Request, reply: Reply) -> str:
    """The reply's ``result`` as CSV text, or its ``msg`` when it failed."""
    if reply.get("success") != 0:
        return str(reply.get("msg", ""))
    result = reply.get("result")
    if result is None or result == []:
        return ""
    rows = _rows(result)
    header: dict[str, None] = {}  # an ordered set: keys in first-seen order
    for row in rows:
        header.update(dict.fromkeys(str(key) for key in row))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        cells = {str(key): value for key, value in row.items()}
        writer.writerow(value_text(cells.get(column)) for column in header)
    return out.getvalue()
