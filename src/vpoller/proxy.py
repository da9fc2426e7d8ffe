"""The vPoller proxy: a load-balancing broker between clients and workers.

Clients (REQ) talk to the frontend ROUTER in the wire format of SPEC.md.
Workers (DEALER) talk to the backend ROUTER in :mod:`vpoller.protocol`. The
proxy parses each request once, answers malformed ones itself, and sends a
request only to a live worker that serves its ``hostname`` and has a free
slot for that agent. Requests wait (bounded) while no worker is connected,
and the requests of a worker that stops heartbeating go to another worker.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import time
from collections import deque
from typing import Any

import zmq

from vpoller import management
from vpoller import protocol as p
from vpoller.config import CurveSettings, ProxySettings
from vpoller.constants import PROTOCOL_TAG, VERSION
from vpoller.daemon import ThreadedDaemon
from vpoller.errors import RequestError, TransportError
from vpoller.metrics import OUTCOME_ERROR, ProxyMetrics, reply_outcome
from vpoller.proxystate import Pending, ProxyCounters, WorkerState
from vpoller.request import Request, decode_json, encode_json, failure
from vpoller.transport import make_server_socket, start_authenticator

logger = logging.getLogger(__name__)

HEARTBEAT_S = p.HEARTBEAT_S
WORKER_EXPIRY_S = p.PEER_EXPIRY_S
# Time a worker gets past a request's deadline to send its own timeout reply.
DEADLINE_GRACE_S = 1.0
SWEEP_INTERVAL_S = 0.1
SHUTDOWN_GRACE_S = 3.0
# Share of the client's timeout the proxy may use before it answers with an error.
CLIENT_DEADLINE_SHARE = 0.9


class Proxy(ThreadedDaemon):
    """The broker daemon: ``start()``, ``stop(timeout)``, ``join()``."""

    thread_name = "vpoller-proxy"

    def __init__(
        self,
        settings: ProxySettings,
        curve: CurveSettings | None = None,
        metrics: ProxyMetrics | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.curve = curve or CurveSettings()
        self.counters = ProxyCounters()
        self.metrics = metrics or ProxyMetrics()
        self.metrics.watch(self)
        self._workers: dict[bytes, WorkerState] = {}
        self._queues: dict[str, deque[Pending]] = {}
        self._queued = 0
        self._inflight: dict[bytes, Pending] = {}
        self._ids = itertools.count(1)
        self._rr = itertools.count()
        self._closing = False
        self._started = time.time()
        self.endpoints: dict[str, str] = {}

    # -- lifecycle ---------------------------------------------------------

    # -- the loop ------------------------------------------------------------

    def _run(self) -> None:
        ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        auth: Any = None
        sockets: list[zmq.Socket[bytes]] = []
        try:
            auth = start_authenticator(ctx, self.curve)
            limit = self.settings.max_message_bytes
            self.frontend = make_server_socket(
                ctx,
                zmq.ROUTER,
                self.settings.frontend,
                self.curve,
                limit,
                guard=auth,
                label="frontend",
            )
            sockets.append(self.frontend)
            self.backend = make_server_socket(
                ctx,
                zmq.ROUTER,
                self.settings.backend,
                self.curve,
                limit,
                guard=auth,
                label="backend",
            )
            sockets.append(self.backend)
            self.backend.setsockopt(zmq.ROUTER_MANDATORY, 1)
            self.mgmt = make_server_socket(
                ctx, zmq.REP, self.settings.mgmt, self.curve, limit, guard=auth, label="mgmt"
            )
            sockets.append(self.mgmt)
            self.endpoints = {
                "frontend": _last_endpoint(self.frontend),
                "backend": _last_endpoint(self.backend),
                "mgmt": _last_endpoint(self.mgmt),
            }
        except BaseException as exc:  # surfaced to start()'s caller
            self._error = exc
            for sock in sockets:
                sock.close(0)
            if auth is not None:
                auth.stop()
            ctx.term()
            self._ready.set()
            return
        logger.info("proxy listening: %s", self.endpoints)
        self._ready.set()
        try:
            self._loop()
        finally:
            self._shutdown()
            for sock in sockets:
                sock.close(0)
            if auth is not None:
                auth.stop()
            ctx.term()
            logger.info("proxy stopped: %s", self.counters)

    def _loop(self) -> None:
        poller = zmq.Poller()
        poller.register(self.frontend, zmq.POLLIN)
        poller.register(self.backend, zmq.POLLIN)
        poller.register(self.mgmt, zmq.POLLIN)
        next_heartbeat = time.monotonic() + HEARTBEAT_S
        next_sweep = time.monotonic() + SWEEP_INTERVAL_S
        closing_until = 0.0
        while True:
            if self._stop.is_set():
                # Stopping: refuse new requests, give in-flight ones a grace
                # period to be answered by their workers.
                if not self._closing:
                    self._closing = True
                    closing_until = time.monotonic() + SHUTDOWN_GRACE_S
                if not self._inflight or time.monotonic() > closing_until:
                    return
            events = dict(poller.poll(int(SWEEP_INTERVAL_S * 1000)))
            # Drain the backend first: replies free slots for queued requests.
            if self.backend in events:
                self._drain(self.backend, self._on_backend)
            if self.frontend in events:
                self._drain(self.frontend, self._on_frontend)
            if self.mgmt in events:
                management.answer(self.mgmt, "vPoller Proxy", self.status, self._stop.set)
            now = time.monotonic()
            if now >= next_sweep:
                self._expire_workers(now)
                self._expire_requests(now)
                next_sweep = now + SWEEP_INTERVAL_S
            if now >= next_heartbeat:
                for identity in list(self._workers):
                    self._send_worker(identity, [p.HEARTBEAT])
                next_heartbeat = now + HEARTBEAT_S

    def _drain(self, sock: zmq.Socket[bytes], handler: Any, budget: int = 256) -> None:
        for _ in range(budget):
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            handler(frames)

    # -- frontend ------------------------------------------------------------

    def _on_frontend(self, frames: list[bytes]) -> None:
        self.counters.received += 1
        try:
            split = frames.index(b"")
        except ValueError:
            logger.warning("dropped a frontend message without an envelope delimiter")
            self.counters.rejected += 1
            self.metrics.answered(None, "dropped")
            return
        envelope, body = frames[: split + 1], frames[split + 1 :]
        if self._closing:
            self._reject(envelope, "Proxy is shutting down; send the request again later")
            return
        if len(body) != 1:
            self._reject(envelope, f"Request must be exactly one frame, got {len(body)}")
            return
        frame = body[0]
        if len(frame) > self.settings.max_message_bytes:
            self._reject(
                envelope,
                f"Request of {len(frame)} bytes exceeds the limit of "
                f"{self.settings.max_message_bytes} bytes",
            )
            return
        if not frame:
            self._reject(envelope, "Request is empty: expected a JSON object")
            return
        try:
            raw = decode_json(frame)
            request = Request.from_object(raw)
        except RequestError as exc:
            self._reject(envelope, str(exc))
            return
        deadline = time.monotonic() + self._timeout_s(raw)
        pending = Pending(
            next(self._ids).to_bytes(8, "big"),
            envelope,
            frame,
            request.hostname,
            request.method,
            deadline,
        )
        self._route(pending)

    def _timeout_s(self, raw: dict[str, Any]) -> float:
        """The request's deadline: the client's timeout (if sent), capped by config.

        The proxy answers a little before the client gives up, so that an
        error reply reaches the client instead of racing its timeout.
        """
        cap_ms = self.settings.request_timeout_ms
        asked = raw.get("timeout")
        if isinstance(asked, int) and not isinstance(asked, bool) and asked > 0:
            cap_ms = min(cap_ms, asked)
        return cap_ms * CLIENT_DEADLINE_SHARE / 1000

    def _reject(self, envelope: list[bytes], msg: str) -> None:
        self.counters.rejected += 1
        self.metrics.answered(None, "rejected")
        self._reply(envelope, encode_json(failure(msg)))

    def _reply(self, envelope: list[bytes], body: bytes) -> None:
        try:
            self.frontend.send_multipart([*envelope, body], zmq.NOBLOCK)
        except zmq.ZMQError as exc:
            logger.warning("could not send a reply to a client: %s", exc)

    def _route(self, pending: Pending) -> None:
        worker = self._pick_worker(pending.agent)
        if worker is not None:
            self._dispatch(pending, worker)
            return
        active = [w for w in self._workers.values() if not w.draining]
        if active and not any(pending.agent in w.slots for w in active):
            self.counters.failed += 1
            self._answered(pending, "no_worker")
            self._reply(
                pending.envelope,
                encode_json(
                    failure(
                        f"No worker serves vSphere agent '{pending.agent}': register it with "
                        "vconnector-cli and enable it"
                    )
                ),
            )
            return
        if self._queued >= self.settings.queue_limit:
            self.counters.failed += 1
            self._answered(pending, "queue_full")
            self._reply(
                pending.envelope,
                encode_json(
                    failure("Proxy queue is full: too many requests are waiting for a worker")
                ),
            )
            return
        self._queues.setdefault(pending.agent, deque()).append(pending)
        self._queued += 1

    def _pick_worker(self, agent: str) -> WorkerState | None:
        """The live worker with the most free slots for ``agent`` (LRU among equals)."""
        best: WorkerState | None = None
        best_key = (0, 0)
        for worker in self._workers.values():
            slots = worker.slots.get(agent)
            if slots is None:
                continue
            key = (slots - worker.busy.get(agent, 0), -worker.last_used)
            if key[0] > 0 and (best is None or key > best_key):
                best, best_key = worker, key
        return best

    def _dispatch(self, pending: Pending, worker: WorkerState) -> None:
        remaining_ms = max(1, int((pending.deadline - time.monotonic()) * 1000))
        pending.worker = worker.identity
        pending.attempts += 1
        worker.last_used = next(self._rr)
        worker.busy[pending.agent] = worker.busy.get(pending.agent, 0) + 1
        worker.inflight.add(pending.rid)
        self._inflight[pending.rid] = pending
        self._send_worker(
            worker.identity, [p.REQUEST, pending.rid, str(remaining_ms).encode(), pending.body]
        )

    def _release(self, pending: Pending) -> None:
        worker = self._workers.get(pending.worker or b"")
        pending.worker = None
        if worker is None:
            return
        worker.inflight.discard(pending.rid)
        busy = worker.busy.get(pending.agent, 0)
        if busy > 0:
            worker.busy[pending.agent] = busy - 1

    def _feed(self, worker: WorkerState) -> None:
        """Give queued requests to a worker that has free slots."""
        for agent in worker.slots:
            queue = self._queues.get(agent)
            while queue and worker.busy.get(agent, 0) < worker.slots[agent]:
                pending = queue.popleft()
                self._queued -= 1
                self._dispatch(pending, worker)
            if queue is not None and not queue:
                del self._queues[agent]

    # -- backend -------------------------------------------------------------

    def _send_worker(self, identity: bytes, frames: list[bytes]) -> None:
        try:
            self.backend.send_multipart([identity, PROTOCOL_TAG, *frames], zmq.NOBLOCK)
        except zmq.ZMQError as exc:
            # The worker is gone or its queue is full; heartbeat expiry cleans up.
            logger.debug("could not send to worker %s: %s", identity.hex(), exc)

    def _on_backend(self, frames: list[bytes]) -> None:
        identity, rest = frames[0], frames[1:]
        try:
            command, args = p.split_command(rest, p.WORKER_COMMANDS)
        except TransportError as exc:
            logger.warning("dropped a backend message from %s: %s", identity.hex(), exc)
            return
        worker = self._workers.get(identity)
        if command == p.READY:
            if not args:
                logger.warning("READY without info from %s", identity.hex())
                return
            try:
                info = p.WorkerInfo.decode(args[0])
            except TransportError as exc:
                logger.warning("worker %s: %s", identity.hex(), exc)
                return
            self._register(identity, info, worker)
            return
        if worker is None:
            # A worker we do not know: we restarted, or we expired it. Its
            # replies have nobody to go to; ask it to announce itself again.
            self._send_worker(identity, [p.RESYNC])
            return
        worker.expiry = time.monotonic() + WORKER_EXPIRY_S
        if command == p.REPLY and len(args) == 2:
            self._on_reply(worker, args[0], args[1])
        elif command == p.DISCONNECT:
            logger.info("worker %s (pid %d) disconnected", identity.hex(), worker.pid)
            self._remove_worker(identity)

    def _register(self, identity: bytes, info: p.WorkerInfo, old: WorkerState | None) -> None:
        expiry = time.monotonic() + WORKER_EXPIRY_S
        if old is None:
            state = WorkerState(
                identity,
                dict(info.agents),
                info.pid,
                info.hostname,
                info.non_idempotent,
                expiry,
                info.draining,
            )
            self._workers[identity] = state
            logger.info(
                "worker %s (pid %d on %s) ready for agents %s",
                identity.hex(),
                info.pid,
                info.hostname,
                sorted(info.agents),
            )
        else:
            state = old
            state.slots = dict(info.agents)
            state.non_idempotent = info.non_idempotent
            state.expiry = expiry
            state.draining = info.draining
            logger.info("worker %s now serves agents %s", identity.hex(), sorted(info.agents))
        self._feed(state)

    def _on_reply(self, worker: WorkerState, rid: bytes, body: bytes) -> None:
        pending = self._inflight.pop(rid, None)
        if pending is None or pending.worker != worker.identity:
            if pending is not None:
                self._inflight[rid] = pending
            return  # a late reply for a request already answered or moved
        self._release(pending)
        worker.served += 1
        self.counters.served += 1
        outcome = reply_outcome(body)
        if outcome == OUTCOME_ERROR:
            self.counters.failed += 1
        self._answered(pending, outcome)
        self._reply(pending.envelope, body)
        self._feed(worker)

    def _remove_worker(self, identity: bytes) -> None:
        worker = self._workers.pop(identity, None)
        if worker is None:
            return
        now = time.monotonic()
        for rid in sorted(worker.inflight):
            pending = self._inflight.pop(rid, None)
            if pending is None:
                continue
            pending.worker = None
            if pending.method in worker.non_idempotent:
                self.counters.failed += 1
                self._answered(pending, "worker_lost")
                self._reply(
                    pending.envelope,
                    encode_json(
                        failure(
                            f"Worker serving '{pending.method}' was lost; the request was not "
                            "repeated because it is not safe to run twice"
                        )
                    ),
                )
            elif pending.deadline > now:
                self.counters.resent += 1
                self._route(pending)
            else:
                self._time_out(pending)

    def _expire_workers(self, now: float) -> None:
        for identity, worker in list(self._workers.items()):
            if worker.expiry < now:
                logger.warning(
                    "worker %s (pid %d) stopped heartbeating; dropping it with %d "
                    "requests in flight",
                    identity.hex(),
                    worker.pid,
                    len(worker.inflight),
                )
                self._remove_worker(identity)

    def _expire_requests(self, now: float) -> None:
        for agent, queue in list(self._queues.items()):
            kept = deque(item for item in queue if item.deadline > now)
            for item in queue:
                if item.deadline <= now:
                    self._queued -= 1
                    self._time_out(item)
            if kept:
                self._queues[agent] = kept
            else:
                del self._queues[agent]
        for rid, pending in list(self._inflight.items()):
            if pending.deadline + DEADLINE_GRACE_S <= now:
                del self._inflight[rid]
                self._release(pending)
                self._time_out(pending)

    def _time_out(self, pending: Pending) -> None:
        self.counters.timed_out += 1
        self.counters.failed += 1
        self._answered(pending, "timeout")
        where = "waiting for a worker" if pending.attempts == 0 else "waiting for the worker"
        self._reply(
            pending.envelope,
            encode_json(
                failure(f"Request '{pending.method}' for '{pending.agent}' timed out {where}")
            ),
        )

    def _shutdown(self) -> None:
        """Answer everything still pending, then tell workers we are leaving."""
        for pending in list(self._inflight.values()):
            self._answered(pending, "shutdown")
            self._reply(
                pending.envelope,
                encode_json(failure("Proxy is shutting down; request not completed")),
            )
        for queue in self._queues.values():
            for pending in queue:
                self._answered(pending, "shutdown")
                self._reply(
                    pending.envelope,
                    encode_json(failure("Proxy is shutting down; request not completed")),
                )
        self._inflight.clear()
        self._queues.clear()
        for identity in list(self._workers):
            self._send_worker(identity, [p.DISCONNECT])

    # -- management ------------------------------------------------------------

    def _answered(self, pending: Pending, outcome: str) -> None:
        self.metrics.answered(pending.method, outcome, time.monotonic() - pending.received)

    def load(self) -> dict[str, int]:
        """Gauges and totals for the metrics endpoint; safe to call from another thread."""
        workers = list(self._workers.values())
        return {
            "queued": self._queued,
            "inflight": len(self._inflight),
            "workers": len(workers),
            "agents": len({agent for w in workers for agent in list(w.slots)}),
            "received": self.counters.received,
            "resent": self.counters.resent,
            "timed_out": self.counters.timed_out,
            "rejected": self.counters.rejected,
        }

    def status(self) -> dict[str, Any]:
        """A description of the proxy for the management ``status`` request."""
        return {
            "component": "vpoller-proxy",
            "status": "running",
            "version": VERSION,
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "uptime_s": round(time.time() - self._started, 1),
            "endpoints": self.endpoints,
            "workers": [
                {
                    "id": w.identity.hex(),
                    "pid": w.pid,
                    "hostname": w.hostname,
                    "agents": sorted(w.slots),
                    "inflight": len(w.inflight),
                    "served": w.served,
                }
                for w in self._workers.values()
            ],
            "workers_alive": len(self._workers),
            "agents": sorted({a for w in self._workers.values() for a in w.slots}),
            "requests": {
                "queued": self._queued,
                "inflight": len(self._inflight),
                "received": self.counters.received,
                "served": self.counters.served,
                "failed": self.counters.failed,
                "rejected": self.counters.rejected,
                "resent": self.counters.resent,
                "timed_out": self.counters.timed_out,
            },
        }


def _last_endpoint(sock: zmq.Socket[bytes]) -> str:
    value = sock.getsockopt(zmq.LAST_ENDPOINT)
    return value.decode() if isinstance(value, bytes) else str(value)
