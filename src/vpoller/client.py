"""The Python client: send one request to a proxy and wait for its reply.

A REQ socket with the "lazy pirate" pattern: poll with a timeout, and on
timeout throw the socket away and retry with a fresh one, moving on to the
next endpoint when several are given. A request that gets no reply at all
is answered locally with the SPEC's "Did not receive response" error.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import zmq

from vpoller.config import CurveSettings
from vpoller.constants import (
    DEFAULT_CLIENT_ENDPOINT,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT_MS,
    MAX_MESSAGE_BYTES,
    NO_RESPONSE_MSG,
)
from vpoller.errors import TransportError
from vpoller.request import decode_reply, encode_json, failure
from vpoller.transport import make_client_socket

logger = logging.getLogger(__name__)


def check_settings(
    endpoint: str | Sequence[str], timeout_ms: int, retries: int
) -> tuple[list[str], int, int]:
    """Endpoints (a list, or comma-separated), timeout and retries, validated.

    Raises TransportError for no endpoint or a timeout below 1 ms; fewer than
    one retry means one attempt.
    """
    items = [endpoint] if isinstance(endpoint, str) else list(endpoint)
    endpoints = [e.strip() for item in items for e in item.split(",") if e.strip()]
    if not endpoints:
        raise TransportError("no proxy endpoint given")
    if timeout_ms < 1:
        raise TransportError(f"timeout must be a positive number of milliseconds, got {timeout_ms}")
    return endpoints, timeout_ms, max(1, retries)


class Client:
    """A vPoller client bound to one or more proxy endpoints (failover in order)."""

    def __init__(
        self,
        endpoint: str | Sequence[str] = DEFAULT_CLIENT_ENDPOINT,
        timeout_ms: int = DEFAULT_TIMEOUT_MS,
        retries: int = DEFAULT_RETRIES,
        curve: CurveSettings | None = None,
    ) -> None:
        self.endpoints, self.timeout_ms, self.retries = check_settings(
            endpoint, timeout_ms, retries
        )
        self.curve = curve or CurveSettings()
        self._ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()

    def run(self, request: Mapping[str, Any]) -> dict[str, Any] | str:
        """Send ``request``; return the reply object, or the helper's text output."""
        raw = self.run_raw(request)
        if raw is None:
            return failure(NO_RESPONSE_MSG)
        return decode_reply(raw)

    def run_raw(self, request: Mapping[str, Any]) -> bytes | None:
        """Send ``request``; return the reply frame as received, None when none came."""
        body = dict(request)
        body.setdefault("timeout", self.timeout_ms)
        return self.send_frame(encode_json(body))

    def send_frame(self, frame: bytes) -> bytes | None:
        """Send one raw frame with retries and failover; None when nothing answered."""
        for attempt in range(self.retries):
            endpoint = self.endpoints[attempt % len(self.endpoints)]
            sock = make_client_socket(self._ctx, zmq.REQ, endpoint, self.curve, MAX_MESSAGE_BYTES)
            try:
                sock.send(frame)
                if sock.poll(self.timeout_ms, zmq.POLLIN):
                    return sock.recv()
                logger.debug(
                    "no reply from %s within %d ms (attempt %d of %d)",
                    endpoint,
                    self.timeout_ms,
                    attempt + 1,
                    self.retries,
                )
            finally:
                sock.close(0)
        return None


def management_request(
    endpoint: str,
    method: str,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
    curve: CurveSettings | None = None,
) -> dict[str, Any]:
    """Send ``{"method": method}`` to a management endpoint (one try)."""
    reply = Client(endpoint, timeout_ms=timeout_ms, retries=1, curve=curve).run({"method": method})
    if isinstance(reply, str):
        return failure(f"Unexpected reply from {endpoint}: {reply[:200]}")
    return reply
