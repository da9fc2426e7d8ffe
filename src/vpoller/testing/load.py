"""Many requests in flight at once from one socket, for tests and benchmarks.

A DEALER socket sends each request with its own envelope frame (its index)
before the empty delimiter; the proxy hands envelopes back unchanged, so
replies are matched to requests whatever order they arrive in.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import zmq

from vpoller.request import decode_reply, encode_json


def send_many(
    endpoint: str,
    requests: Sequence[Mapping[str, Any] | bytes],
    timeout_s: float,
    window: int | None = None,
) -> list[dict[str, Any] | str | None]:
    """Send ``requests`` (at most ``window`` outstanding); None where no reply came."""
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    frames = [r if isinstance(r, bytes) else encode_json(dict(r)) for r in requests]
    replies: list[dict[str, Any] | str | None] = [None] * len(frames)
    limit = window or len(frames)
    deadline = time.monotonic() + timeout_s
    sent = received = 0
    try:
        while received < len(frames) and time.monotonic() < deadline:
            while sent < len(frames) and sent - received < limit:
                sock.send_multipart([str(sent).encode(), b"", frames[sent]])
                sent += 1
            if not sock.poll(max(1, int((deadline - time.monotonic()) * 1000))):
                break
            while True:
                try:
                    parts = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                index = int(parts[0])
                if replies[index] is None:
                    replies[index] = decode_reply(parts[-1])
                    received += 1
    finally:
        sock.close(0)
    return replies
