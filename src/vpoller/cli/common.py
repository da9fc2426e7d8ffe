"""Helpers shared by the command-line entry points (the only code that configures logging)."""

from __future__ import annotations

import logging
import re
from typing import Final

LOG_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REDACTED: Final = "***"

# Secrets as they could appear in a log line: a JSON or Python-dict key
# ("password": "x", 'password': 'x'), a key=value pair, or a SOAP element
# (<password>x</password>, as in pyVmomi's login and guest-auth bodies).
_SECRET_PATTERNS: Final = (
    re.compile(
        r"""(?P<pre>["']?\w*password["']?\s*:\s*)(?P<q>["'])(?:\\.|(?!(?P=q)).)*(?P=q)""",
        re.IGNORECASE,
    ),
    re.compile(r"(?P<pre>\b\w*password=)(?P<q>)[^\s,&;)'\"]+", re.IGNORECASE),
    re.compile(
        r"(?P<pre><(?:\w+:)?password\b[^>]*>)(?P<q>)[^<]*(?=</(?:\w+:)?password>)",
        re.IGNORECASE,
    ),
)


def redact(text: str) -> str:
    """``text`` with the value of every password-like key replaced by ``***``."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: f"{m['pre']}{m['q']}{REDACTED}{m['q']}", text)
    return text


class RedactingFormatter(logging.Formatter):
    """A formatter whose output (message and traceback) never holds a password value.

    Code logs ``Request.redacted()``, never raw requests; this is the second
    line of defence, for libraries that log bodies at debug level.
    """

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup_logging(debug: bool) -> None:
    """Log to stderr: DEBUG and up with ``debug``, else WARNING and up; passwords redacted."""
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format=LOG_FORMAT)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(RedactingFormatter(LOG_FORMAT))
