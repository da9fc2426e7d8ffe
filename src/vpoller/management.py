"""The management requests every daemon answers: ``status`` and ``shutdown``.

A management endpoint is a REP socket; each request is one JSON frame
``{"method": "status"}`` or ``{"method": "shutdown"}`` and gets one reply.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import zmq

from vpoller.errors import RequestError
from vpoller.request import decode_json, encode_json, failure, success

logger = logging.getLogger(__name__)

USAGE_MSG = 'Management request must be {"method": "status"} or {"method": "shutdown"}'


def answer(
    sock: zmq.Socket[bytes],
    component: str,
    status: Callable[[], dict[str, Any]],
    shutdown: Callable[[], None],
) -> None:
    """Read one management request from ``sock`` (if any) and reply to it.

    ``component`` names the daemon in the reply's ``msg`` (e.g. "vPoller Proxy").
    """
    try:
        frames = sock.recv_multipart(zmq.NOBLOCK)
    except zmq.Again:
        return
    try:
        raw = decode_json(frames[0]) if len(frames) == 1 else None
    except RequestError:
        raw = None
    method = raw.get("method") if isinstance(raw, dict) else None
    if method == "status":
        reply = success(status(), f"{component} status")
    elif method == "shutdown":
        logger.info("%s: shutdown requested over management", component)
        reply = success({"status": "stopping"}, f"Shutting down {component}")
        shutdown()
    else:
        reply = failure(USAGE_MSG)
    sock.send(encode_json(reply))
