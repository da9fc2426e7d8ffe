"""The HTTP gateway (``vpoller-http``): an HTTP/JSON front to the proxy, on aiohttp.

Routes:

* ``POST /v1/request``: the body is a request in the wire format (SPEC.md).
* ``GET /v1/<hostname>/<method>?name=...&properties=a,b&helper=...``: every
  other request key as a query parameter (``name`` repeated for a batch).
* ``GET /healthz``: the gateway is up (it does not contact the proxy).

The reply is the proxy's reply: JSON as ``application/json``, a helper's text
as ``text/plain``. A failed reply (``success: 1``) gets an HTTP status from
:func:`http_status`. Each request goes to the proxy on its own ZeroMQ REQ
socket with :class:`vpoller.Client`'s semantics (poll with a timeout, retry on
a fresh socket, fail over to the next endpoint), but without blocking the
event loop.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final, cast

import orjson
import zmq
import zmq.asyncio
from aiohttp import web

from vpoller.client import check_settings
from vpoller.config import CurveSettings
from vpoller.constants import (
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT_MS,
    MAX_MESSAGE_BYTES,
    NO_RESPONSE_MSG,
    VERSION,
)
from vpoller.errors import RequestError, TransportError
from vpoller.request import OPTIONAL_KEYS, Request, decode_json, encode_json, failure
from vpoller.transport import make_client_socket

logger = logging.getLogger(__name__)

MAX_INFLIGHT: Final = 1024  # requests forwarded at once; more wait for a free place
MAX_BODY_BYTES: Final = MAX_MESSAGE_BYTES

# Query parameters of the GET form: every request key but method and hostname.
QUERY_KEYS: Final = OPTIONAL_KEYS | {"timeout"}
_LIST_KEYS: Final = frozenset({"name", "uuid", "moref", "counter-name"})

# How a failed reply's ``msg`` maps to an HTTP status, first match wins.
# Replies carry no error code, so the gateway reads the sentences vPoller's
# own layers write (dispatcher, request parser, object lookup, proxy).
STATUS_RULES: Final = (
    (504, re.compile(r"timed out|^" + re.escape(NO_RESPONSE_MSG))),
    (404, re.compile(r"^Cannot find |^No worker serves vSphere agent |no longer exists$")),
    (
        400,
        re.compile(
            r"^Unknown method |^Missing required key|^Helper '.*' is not enabled|^Request |"
            r"^'[^']+' (must be|has \d+ entries)|^Lookup by '"
        ),
    ),
    (503, re.compile(r"^Proxy queue is full|shutting down")),
)
DEFAULT_ERROR_STATUS: Final = 502


def http_status(reply: Mapping[str, Any]) -> int:
    """The HTTP status for a reply: 200 on success, else by its ``msg`` (see STATUS_RULES)."""
    if reply.get("success") == 0:
        return 200
    msg = str(reply.get("msg", ""))
    for status, pattern in STATUS_RULES:
        if pattern.search(msg):
            return status
    return DEFAULT_ERROR_STATUS


def request_from_query(
    hostname: str, method: str, query: Mapping[str, Sequence[str]]
) -> dict[str, Any]:
    """The wire request of the GET form; RequestError for an unknown parameter."""
    unknown = sorted(set(query) - QUERY_KEYS)
    if unknown:
        raise RequestError(f"Unknown query parameter(s): {', '.join(unknown)}")
    request: dict[str, Any] = {"method": method, "hostname": hostname}
    for key, values in query.items():
        if key in _LIST_KEYS and len(values) > 1:
            request[key] = list(values)
        elif key == "properties":
            request[key] = [p.strip() for v in values for p in v.split(",") if p.strip()]
        elif key == "timeout":
            try:
                request[key] = int(values[-1])
            except ValueError:
                raise RequestError(f"'timeout' must be milliseconds, got {values[-1]!r}") from None
        else:
            request[key] = values[-1]
    return request


class ProxyLink:
    """Forwards request frames to the proxy: a fresh REQ socket per attempt."""

    def __init__(
        self,
        endpoints: Sequence[str],
        timeout_ms: int = DEFAULT_TIMEOUT_MS,
        retries: int = DEFAULT_RETRIES,
        curve: CurveSettings | None = None,
    ) -> None:
        self.endpoints, self.timeout_ms, self.retries = check_settings(
            endpoints, timeout_ms, retries
        )
        self.curve = curve or CurveSettings()
        self._ctx = zmq.asyncio.Context()
        self._slots = asyncio.Semaphore(MAX_INFLIGHT)

    async def send(self, frame: bytes) -> bytes | None:
        """Send one frame with retries and failover; None when nothing answered."""
        async with self._slots:
            for attempt in range(self.retries):
                endpoint = self.endpoints[attempt % len(self.endpoints)]
                # make_client_socket is typed for the blocking Context; an asyncio
                # Context's sockets have the same options and awaitable I/O.
                ctx = cast(zmq.Context[zmq.Socket[bytes]], self._ctx)
                sock = cast(
                    zmq.asyncio.Socket,
                    make_client_socket(ctx, zmq.REQ, endpoint, self.curve, MAX_MESSAGE_BYTES),
                )
                try:
                    await sock.send(frame)
                    if await sock.poll(self.timeout_ms):  # POLLIN by default
                        reply: bytes = await sock.recv()
                        return reply
                    logger.debug("no reply from %s (attempt %d)", endpoint, attempt + 1)
                finally:
                    sock.close(0)
        return None

    def close(self) -> None:
        self._ctx.term()


def _json_response(reply: Mapping[str, Any], status: int | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(reply),
        status=http_status(reply) if status is None else status,
        content_type="application/json",
    )


class Gateway:
    """The aiohttp application and its listening site: ``await start()``, ``await stop()``."""

    def __init__(self, link: ProxyLink, host: str = "127.0.0.1", port: int = 8080) -> None:
        self.link = link
        self.host = host
        self.requested_port = port
        self.app = web.Application(client_max_size=MAX_BODY_BYTES)
        self.app.add_routes(
            [
                web.post("/v1/request", self._post),
                web.get("/v1/{hostname}/{method}", self._get),
                web.get("/healthz", self._health),
            ]
        )
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.requested_port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise TransportError(
                f"cannot listen on {self.host}:{self.requested_port}: {exc.strerror}"
            ) from None
        address = self._runner.addresses[0]
        self.port = int(address[1])
        logger.info("HTTP gateway on %s:%d -> %s", self.host, self.port, self.link.endpoints)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.link.close()

    # -- handlers ------------------------------------------------------------

    async def _post(self, http: web.Request) -> web.Response:
        body = await http.read()
        try:
            raw = decode_json(body)
            Request.from_object(raw)
        except RequestError as exc:
            return _json_response(failure(str(exc)), 400)
        return await self._forward(raw)

    async def _get(self, http: web.Request) -> web.Response:
        query = {key: http.query.getall(key) for key in http.query}
        try:
            raw = request_from_query(http.match_info["hostname"], http.match_info["method"], query)
            Request.from_object(raw)
        except RequestError as exc:
            return _json_response(failure(str(exc)), 400)
        return await self._forward(raw)

    async def _health(self, _http: web.Request) -> web.Response:
        return _json_response(
            {
                "success": 0,
                "msg": "vPoller HTTP gateway is running",
                "result": {"version": VERSION, "proxy": self.link.endpoints},
            },
            200,
        )

    async def _forward(self, raw: dict[str, Any]) -> web.Response:
        raw.setdefault("timeout", self.link.timeout_ms)
        frame = await self.link.send(encode_json(raw))
        if frame is None:
            return _json_response(failure(NO_RESPONSE_MSG), 504)
        # As vpoller.Client: helper output may be NUL-terminated for C consumers.
        text = frame.decode("utf-8", errors="replace").rstrip("\x00")
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            value = None
        if isinstance(value, dict) and "success" in value:
            return _json_response(value)
        # Helper output: Zabbix discovery JSON is JSON, bare values and CSV are text.
        kind = "application/json" if isinstance(value, dict) else "text/plain"
        return web.Response(text=text, content_type=kind, charset="utf-8")
