"""Process checks for tests: is a pid still running, wait until pids are gone."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

POLL_S = 0.1


def alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie counts as ended."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(pids: Iterable[int], timeout_s: float) -> list[int]:
    """Wait up to ``timeout_s`` for every pid to end; return the ones still running."""
    pids = list(pids)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not any(alive(pid) for pid in pids):
            return []
        time.sleep(POLL_S)
    return [pid for pid in pids if alive(pid)]
