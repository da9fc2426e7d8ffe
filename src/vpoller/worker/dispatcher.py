"""Turn one request frame into one reply frame: validate, run the task, format.

The dispatcher is the boundary where every failure becomes an error reply:
``VPollerError`` subclasses carry their message to the client, anything else
is logged with its traceback and answered with a short sentence.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from vpoller.errors import RequestError, VPollerError
from vpoller.helpers import HelperFunc, apply_helper
from vpoller.request import Reply, Request, encode_json, failure
from vpoller.vsphere.agent import VSphereAgent
from vpoller.vsphere.taskregistry import Task

logger = logging.getLogger(__name__)


class Dispatcher:
    """Validates requests against the registered tasks and runs them on an agent."""

    def __init__(self, tasks: Mapping[str, Task], helpers: Mapping[str, HelperFunc]) -> None:
        self.tasks = tasks
        self.helpers = helpers

    def validate(self, frame: bytes) -> tuple[Request, Task]:
        """Parse ``frame`` and find its task; raise RequestError naming the problem."""
        request = Request.from_bytes(frame)
        task = self.tasks.get(request.method)
        if task is None:
            raise RequestError(f"Unknown method '{request.method}'")
        missing = [key for key in task.required if not _has_key(request, key)]
        if missing:
            keys = ", ".join(f"'{key}'" for key in missing)
            raise RequestError(f"Missing required key(s) {keys} for method '{task.method}'")
        if request.helper is not None and request.helper not in self.helpers:
            raise RequestError(f"Helper '{request.helper}' is not enabled on this worker")
        return request, task

    def run(self, agent: VSphereAgent, request: Request, task: Task) -> bytes:
        """Run ``task`` for ``request`` on ``agent``; always returns a reply frame."""
        reply: Reply
        try:
            reply = agent.execute(task, request)
        except VPollerError as exc:
            reply = failure(str(exc))
        except Exception as exc:
            # The one broad catch of the worker: a bug in a task must become an
            # error reply and a log line, never a dead worker or a lost request.
            logger.exception("task %s failed unexpectedly", request.method)
            reply = failure(f"Internal error in '{request.method}': {type(exc).__name__}")
        return self.format(request, reply)

    def peek(self, agent: VSphereAgent, request: Request, task: Task) -> bytes | None:
        """The reply frame when the task can answer from memory, else None."""
        try:
            reply = agent.peek(task, request)
        except VPollerError as exc:
            reply = failure(str(exc))
        except Exception:
            # A broken fast path must not cost the request: the normal path
            # on the agent's threads still runs it (and reports its error).
            logger.exception("fast path of %s failed; queueing the task", request.method)
            return None
        return None if reply is None else self.format(request, reply)

    def format(self, request: Request | None, reply: Reply) -> bytes:
        """Apply the request's helper (if any) and encode the reply frame."""
        if request is None or request.helper is None:
            return encode_json(reply)
        try:
            out: Any = apply_helper(self.helpers, request, reply)
        except VPollerError as exc:
            return encode_json(failure(str(exc)))
        if isinstance(out, str):
            return out.encode("utf-8")
        return encode_json(out)


def _has_key(request: Request, key: str) -> bool:
    if key == "name":
        return bool(request.names) or request.uuid is not None or request.moref is not None
    return request.has(key)
