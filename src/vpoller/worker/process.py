"""One worker process: serves the proxies it connects to with its vSphere agents.

The main thread owns every ZeroMQ socket (they are not thread-safe). Task
bodies run on per-agent thread pools and hand their reply frames back over an
``inproc://`` PUSH/PULL pipe. The main thread enforces each request's
deadline: a request whose vSphere call outlives it is answered with an error
and its agent's session is discarded, so a hung session is rebuilt.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import zmq

from vpoller import protocol as p
from vpoller.cli.common import setup_logging
from vpoller.config import Settings
from vpoller.constants import PROTOCOL_TAG
from vpoller.errors import RequestError, TransportError, VPollerError
from vpoller.helpers import load_helpers
from vpoller.metrics import REPORT_INTERVAL_S, encode_report
from vpoller.registry import Registry
from vpoller.request import encode_json, failure
from vpoller.transport import make_client_socket
from vpoller.vsphere.agent import VSphereAgent
from vpoller.vsphere.taskregistry import TASKS
from vpoller.worker.agents import AgentPool
from vpoller.worker.dispatcher import Dispatcher

logger = logging.getLogger(__name__)

HEARTBEAT_S = p.HEARTBEAT_S
PROXY_EXPIRY_S = p.PEER_EXPIRY_S
REGISTRY_CHECK_S = 2.0
DRAIN_GRACE_S = 5.0
POLL_MS = 100


@dataclass
class _InFlight:
    proxy: int
    deadline: float
    agent: str
    method: str


class _ProxyLink:
    """The DEALER socket to one proxy and when we last heard from it."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.sock: zmq.Socket[bytes] | None = None
        self.heard = 0.0


class WorkerProcess:
    """The loop of one worker process; ``run()`` blocks until ``stop()``."""

    def __init__(
        self,
        settings: Settings,
        index: int = 0,
        parent_pid: int | None = None,
        report_endpoint: str | None = None,
    ) -> None:
        self.settings = settings
        # Where to PUSH metrics reports for the manager (None: metrics off).
        self.report_endpoint = report_endpoint
        self._report: zmq.Socket[bytes] | None = None
        self._next_report = 0.0
        self.index = index
        self.parent_pid = parent_pid
        w = settings.worker
        for module in w.tasks:
            try:
                importlib.import_module(module)
            except ImportError as exc:
                raise VPollerError(f"cannot load tasks module {module!r}: {exc}") from None
        self.dispatcher = Dispatcher(TASKS, load_helpers(w.helpers))
        self.registry = Registry(w.db, w.key_file)
        self.agents = AgentPool(
            w.agent_concurrency, w.connect_timeout_s, settings.mirror.properties
        )
        self._registry_stamp: object = None
        self._stop = threading.Event()
        self._inflight: dict[tuple[int, bytes], _InFlight] = {}
        self._local = threading.local()
        self._pipe = f"inproc://vpoller-results-{id(self)}"
        self._draining = False

    def stop(self) -> None:
        """Ask the loop to drain and end (safe from a signal handler)."""
        self._stop.set()

    # -- set-up ------------------------------------------------------------

    def _load_agents(self) -> bool:
        try:
            stamp = self.registry.version()
            if stamp == self._registry_stamp:
                return False
            records = self.registry.agents(enabled_only=True)
        except VPollerError as exc:
            logger.warning("cannot read the agent registry: %s", exc)
            records = []
            stamp = None
        self._registry_stamp = stamp
        changed = self.agents.sync(records)
        if changed:
            logger.info("worker %d serves agents %s", self.index, sorted(self.agents.slots()))
        return changed

    def _info(self) -> bytes:
        slots = {} if self._draining else self.agents.slots()
        non_idempotent = frozenset(m for m, t in TASKS.items() if not t.idempotent)
        return p.WorkerInfo(
            slots, os.getpid(), socket.gethostname(), non_idempotent, draining=self._draining
        ).encode()

    def _connect(
        self, ctx: zmq.Context[zmq.Socket[bytes]], link: _ProxyLink, poller: zmq.Poller
    ) -> None:
        if link.sock is not None:
            poller.unregister(link.sock)
            link.sock.close(0)
        link.sock = make_client_socket(
            ctx,
            zmq.DEALER,
            link.endpoint,
            self.settings.curve,
            self.settings.worker.max_message_bytes,
        )
        poller.register(link.sock, zmq.POLLIN)
        link.heard = time.monotonic()
        self._send(link, [p.READY, self._info()])

    def _send(self, link: _ProxyLink, frames: list[bytes]) -> None:
        if link.sock is None:
            return
        try:
            link.sock.send_multipart([PROTOCOL_TAG, *frames], zmq.NOBLOCK)
        except zmq.ZMQError as exc:
            logger.debug("could not send to proxy %s: %s", link.endpoint, exc)

    # -- the loop ------------------------------------------------------------

    def run(self) -> None:
        """Serve until stopped; drains in-flight requests before returning."""
        ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        results = ctx.socket(zmq.PULL)
        results.setsockopt(zmq.LINGER, 0)
        results.bind(self._pipe)
        self._ctx = ctx
        poller = zmq.Poller()
        poller.register(results, zmq.POLLIN)
        self._load_agents()
        links = [_ProxyLink(endpoint) for endpoint in self.settings.worker.proxy]
        try:
            for link in links:
                self._connect(ctx, link, poller)
            self._loop(ctx, poller, links, results)
        finally:
            for link in links:
                self._send(link, [p.DISCONNECT])
                if link.sock is not None:
                    link.sock.close(0)
            self.agents.close()
            if self._report is not None:
                self._report.close(0)
            results.close(0)
            ctx.term()
            logger.info("worker %d stopped", self.index)

    def _loop(
        self,
        ctx: zmq.Context[zmq.Socket[bytes]],
        poller: zmq.Poller,
        links: list[_ProxyLink],
        results: zmq.Socket[bytes],
    ) -> None:
        next_heartbeat = time.monotonic() + HEARTBEAT_S
        next_registry = time.monotonic() + REGISTRY_CHECK_S
        drain_until = 0.0
        while True:
            if self._stop.is_set() and not self._draining:
                self._draining = True
                drain_until = time.monotonic() + DRAIN_GRACE_S
                for link in links:  # no new requests, keep the ones we hold
                    self._send(link, [p.READY, self._info()])
            if self._draining and (not self._inflight or time.monotonic() > drain_until):
                return
            events = dict(poller.poll(POLL_MS))
            if results in events:
                self._drain_results(results, links)
            for index, link in enumerate(links):
                if link.sock is not None and link.sock in events:
                    self._drain_proxy(index, link)
            now = time.monotonic()
            self._expire(now, links)
            if now >= next_heartbeat:
                next_heartbeat = now + HEARTBEAT_S
                self._heartbeat(ctx, poller, links, now)
                self._send_report(now)
            if now >= next_registry and not self._draining:
                next_registry = now + REGISTRY_CHECK_S
                if self._load_agents():
                    for link in links:
                        self._send(link, [p.READY, self._info()])

    def _heartbeat(
        self,
        ctx: zmq.Context[zmq.Socket[bytes]],
        poller: zmq.Poller,
        links: list[_ProxyLink],
        now: float,
    ) -> None:
        """Heartbeat every proxy; reconnect to a silent one; stop when orphaned."""
        for link in links:
            if now - link.heard > PROXY_EXPIRY_S:
                logger.warning(
                    "proxy %s silent for %.1f s; reconnecting", link.endpoint, now - link.heard
                )
                self._connect(ctx, link, poller)
            else:
                self._send(link, [p.HEARTBEAT])
        if self.parent_pid is not None and os.getppid() != self.parent_pid:
            logger.warning("worker manager is gone; stopping")
            self._stop.set()

    def _drain_proxy(self, index: int, link: _ProxyLink, budget: int = 256) -> None:
        assert link.sock is not None
        for _ in range(budget):
            try:
                frames = link.sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            link.heard = time.monotonic()
            try:
                command, args = p.split_command(frames, p.PROXY_COMMANDS)
            except TransportError as exc:
                logger.warning("dropped a message from proxy %s: %s", link.endpoint, exc)
                continue
            if command == p.REQUEST and len(args) == 3:
                self._on_request(index, link, args[0], args[1], args[2])
            elif command == p.RESYNC:
                self._send(link, [p.READY, self._info()])
            elif command == p.DISCONNECT:
                logger.info("proxy %s is shutting down", link.endpoint)
                link.heard = 0.0  # reconnect at the next heartbeat

    def _on_request(
        self, index: int, link: _ProxyLink, rid: bytes, deadline_ms: bytes, frame: bytes
    ) -> None:
        try:
            timeout_ms = min(int(deadline_ms), self.settings.worker.deadline_cap_ms)
        except ValueError:
            timeout_ms = self.settings.worker.deadline_cap_ms
        try:
            request, task = self.dispatcher.validate(frame)
        except RequestError as exc:
            logger.debug("request %s refused: %s", rid.hex(), exc)
            self._send(link, [p.REPLY, rid, encode_json(failure(str(exc)))])
            return
        # Only the redacted form: guest passwords never reach a log. (Guarded:
        # redacting costs more than the rest of this hot path.)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("request %s: %s", rid.hex(), request.redacted())
        agent = self.agents.get(request.hostname)
        if agent is None or self._draining:
            why = (
                "is shutting down"
                if self._draining
                else f"does not serve vSphere agent '{request.hostname}'"
            )
            self._send(link, [p.REPLY, rid, encode_json(failure(f"This worker {why}"))])
            return
        fast = self.dispatcher.peek(agent, request, task)
        if fast is not None:
            self._send(link, [p.REPLY, rid, fast])
            return
        key = (index, rid)
        self._inflight[key] = _InFlight(
            index, time.monotonic() + timeout_ms / 1000, request.hostname, request.method
        )

        def job(agent: VSphereAgent) -> None:
            body = self.dispatcher.run(agent, request, task)
            self._push(index, rid, body)

        self.agents.submit(request.hostname, job)

    def _push(self, index: int, rid: bytes, body: bytes) -> None:
        """Called on agent threads: hand a reply frame to the main thread."""
        sock: zmq.Socket[bytes] | None = getattr(self._local, "push", None)
        if sock is None:
            sock = self._ctx.socket(zmq.PUSH)
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(self._pipe)
            self._local.push = sock
        sock.send_multipart([str(index).encode(), rid, body])

    def _drain_results(self, results: zmq.Socket[bytes], links: list[_ProxyLink]) -> None:
        for _ in range(256):
            try:
                index_b, rid, body = results.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            index = int(index_b)
            if self._inflight.pop((index, rid), None) is None:
                continue  # already answered with a timeout
            self._send(links[index], [p.REPLY, rid, body])

    def _expire(self, now: float, links: list[_ProxyLink]) -> None:
        expired = [(k, v) for k, v in self._inflight.items() if v.deadline <= now]
        for key, item in expired:
            del self._inflight[key]
            logger.warning(
                "request %s for %s outlived its deadline; discarding the session",
                item.method,
                item.agent,
            )
            agent = self.agents.get(item.agent)
            if agent is not None:
                agent.invalidate()
            self._send(
                links[item.proxy],
                [
                    p.REPLY,
                    key[1],
                    encode_json(
                        failure(
                            f"Request '{item.method}' for '{item.agent}' timed out "
                            "waiting for vSphere"
                        )
                    ),
                ],
            )

    def _send_report(self, now: float) -> None:
        """Tell the manager our sessions and load (for its metrics); never blocks."""
        if self.report_endpoint is None or now < self._next_report:
            return
        self._next_report = now + REPORT_INTERVAL_S
        if self._report is None:
            self._report = self._ctx.socket(zmq.PUSH)
            self._report.setsockopt(zmq.LINGER, 0)
            self._report.setsockopt(zmq.SNDHWM, 4)  # a stale report is worth nothing
            self._report.connect(self.report_endpoint)
        frame = encode_report(self.index, os.getpid(), len(self._inflight), self.agents.status())
        # When the manager is not reading, drop this report: the next one will do.
        with contextlib.suppress(zmq.Again):
            self._report.send(frame, zmq.NOBLOCK)

    def status(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "inflight": len(self._inflight),
            "agents": self.agents.status(),
        }


def run_worker_process(
    settings: Settings,
    index: int,
    parent_pid: int,
    debug: bool = False,
    report_endpoint: str | None = None,
) -> None:
    """Entry point of a child process started by the worker manager."""
    setup_logging(debug)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the manager decides when we stop
    try:
        worker = WorkerProcess(settings, index, parent_pid, report_endpoint)
    except VPollerError as exc:
        logger.error("worker %d cannot start: %s", index, exc)
        raise SystemExit(2) from None
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    worker.run()
