"""What the proxy keeps track of: requests not answered yet, workers, counters.

The proxy's loop (:mod:`vpoller.proxy`) owns these records; nothing else
touches them, so they need no locking.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Pending:
    """A client request the proxy has not answered yet."""

    rid: bytes
    envelope: list[bytes]
    body: bytes
    agent: str
    method: str
    deadline: float
    worker: bytes | None = None
    attempts: int = 0
    received: float = field(default_factory=time.monotonic)


@dataclass
class WorkerState:
    """What the proxy knows about one connected worker."""

    identity: bytes
    slots: dict[str, int]
    pid: int
    hostname: str
    non_idempotent: frozenset[str]
    expiry: float
    draining: bool = False
    busy: dict[str, int] = field(default_factory=dict)
    inflight: set[bytes] = field(default_factory=set)
    served: int = 0
    last_used: int = 0  # dispatch sequence number: ties go to the least recently used


@dataclass
class ProxyCounters:
    """Request counters shown by ``status`` and logged at shutdown."""

    received: int = 0
    served: int = 0
    failed: int = 0
    rejected: int = 0
    resent: int = 0
    timed_out: int = 0
