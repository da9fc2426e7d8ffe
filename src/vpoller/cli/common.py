"""Helpers shared by the command-line entry points (the only code that configures logging)."""

from __future__ import annotations

import logging
from typing import Final

LOG_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(debug: bool) -> None:
    """Log to stderr: DEBUG and up with ``debug``, else WARNING and up."""
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format=LOG_FORMAT)
