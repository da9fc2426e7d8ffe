"""The registry of vSphere task methods and the ``@task`` decorator.

Task modules (``vpoller.vsphere.tasks.*``) register functions by method name
together with the request keys they require. The worker's dispatcher checks
those keys before it calls a task, so task bodies hold only vSphere logic.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vpoller.errors import VPollerError
from vpoller.request import OPTIONAL_KEYS

if TYPE_CHECKING:
    from vpoller.request import Reply, Request
    from vpoller.vsphere.agent import VSphereAgent

TaskFunc = Callable[["VSphereAgent", "Request"], "Reply"]
# Answers from memory (no vSphere call, never blocks) or returns None.
PeekFunc = Callable[["VSphereAgent", "Request"], "Reply | None"]

_METHOD_NAME = re.compile(r"^[a-z][a-z0-9]*(\.[a-z][a-z0-9]*)*$")
# "uuid" and "moref" stand in for "name": a task requires "name" for all three.
_KNOWN_KEYS = OPTIONAL_KEYS - {"uuid", "moref"}


@dataclass(frozen=True)
class Task:
    """A registered task method; calling it runs the task."""

    method: str
    func: TaskFunc
    required: tuple[str, ...]
    # False for the few methods that change or touch state beyond a read, so
    # the proxy never re-sends them to another worker after a worker dies.
    idempotent: bool = True
    # Optional fast path the worker tries on its I/O thread before queueing
    # the task: it must not block, and returns None when it cannot answer.
    peek: PeekFunc | None = None

    def __call__(self, agent: VSphereAgent, request: Request) -> Reply:
        return self.func(agent, request)


TASKS: dict[str, Task] = {}


def task(
    method: str,
    *,
    required: tuple[str, ...] = (),
    idempotent: bool = True,
    peek: PeekFunc | None = None,
) -> Callable[[TaskFunc], Task]:
    """Register a task function under ``method``, requiring the wire keys ``required``.

    ``name`` in ``required`` is satisfied by ``uuid`` or ``moref`` too.
    """
    if not _METHOD_NAME.match(method):
        raise VPollerError(f"invalid task method name {method!r}")
    unknown = set(required) - _KNOWN_KEYS
    if unknown:
        raise VPollerError(f"task {method!r} requires unknown keys {sorted(unknown)}")

    def register(func: TaskFunc) -> Task:
        if method in TASKS:
            raise VPollerError(f"task method {method!r} is registered twice")
        registered = Task(method, func, tuple(required), idempotent, peek)
        TASKS[method] = registered
        return registered

    return register


def describe() -> list[dict[str, Any]]:
    """Every registered method with its required keys, sorted by name."""
    return [
        {"method": t.method, "required": list(t.required)}
        for t in sorted(TASKS.values(), key=lambda t: t.method)
    ]
