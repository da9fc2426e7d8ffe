"""The ``vpoller.helpers.cclient`` helper: the JSON reply as NUL-terminated text.

The default helper of ``vpoller-cclient``: a C consumer reads the frame as one
C string. The JSON is produced by a real encoder, so quotes, backslashes and
non-ASCII in names stay valid JSON (the old C client built JSON with printf).
"""

from __future__ import annotations

from vpoller.helpers._text import json_text
from vpoller.request import Reply, Request


def format(request: Request, reply: Reply) -> str:
    """The whole reply as compact JSON text followed by a NUL byte."""
    return json_text(reply) + "\x00"
