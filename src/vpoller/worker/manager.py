"""The worker manager: starts worker processes, restarts the ones that die.

It binds the worker's management endpoint (``status``, ``shutdown``). A child
that exits unexpectedly is started again after a backoff that doubles on each
quick death and resets once a child has lived long enough. Stopping the
manager stops every child: SIGTERM first, SIGKILL for a child that does not
end in time, so nothing is left behind.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import os
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any

import zmq

from vpoller import management
from vpoller.config import Settings
from vpoller.constants import CHILD_RESTART_BACKOFF_MAX_S, VERSION
from vpoller.daemon import ThreadedDaemon
from vpoller.errors import VPollerError
from vpoller.metrics import WorkerMetrics
from vpoller.registry import Registry
from vpoller.transport import make_server_socket, start_authenticator
from vpoller.vsphere.taskregistry import describe
from vpoller.worker.process import run_worker_process

logger = logging.getLogger(__name__)

STABLE_AFTER_S = 60.0
POLL_MS = 200
CHILD_STOP_TIMEOUT_S = 8.0


@dataclass
class Child:
    """One worker process slot and its restart history."""

    index: int
    process: BaseProcess | None = None
    started: float = 0.0
    restarts: int = 0
    backoff_s: float = 1.0
    restart_at: float = 0.0
    exit_codes: list[int] = field(default_factory=list)


class WorkerManager(ThreadedDaemon):
    """Daemon with ``start()``, ``stop(timeout)`` and ``join()``."""

    thread_name = "vpoller-manager"

    def __init__(
        self, settings: Settings, processes: int | None = None, debug: bool = False
    ) -> None:
        super().__init__()
        self.settings = settings
        self.processes = processes or settings.worker.concurrency
        self.debug = debug
        self.children = [Child(i) for i in range(self.processes)]
        self.metrics = WorkerMetrics(self.processes)
        self.report_endpoint: str | None = None  # children PUSH metrics reports here
        self._mp = multiprocessing.get_context("spawn")
        self._started = time.time()
        self.mgmt_endpoint = ""
        for module in settings.worker.tasks:
            try:
                importlib.import_module(module)
            except ImportError as exc:
                raise VPollerError(f"cannot load tasks module {module!r}: {exc}") from None

    # -- children ------------------------------------------------------------

    def _spawn(self, child: Child) -> None:
        process = self._mp.Process(
            target=run_worker_process,
            name=f"vpoller-worker-{child.index}",
            args=(self.settings, child.index, os.getpid(), self.debug, self.report_endpoint),
        )
        process.start()
        child.process = process
        child.started = time.monotonic()
        logger.info("worker process %d started (pid %s)", child.index, process.pid)

    def _watch(self, now: float) -> None:
        if self._stop.is_set():
            return  # children are ending because we asked them to
        for child in self.children:
            process = child.process
            if process is not None and not process.is_alive():
                code = process.exitcode if process.exitcode is not None else -1
                child.exit_codes = [*child.exit_codes[-9:], code]
                lived = now - child.started
                child.backoff_s = (
                    1.0
                    if lived > STABLE_AFTER_S
                    else min(child.backoff_s * 2, CHILD_RESTART_BACKOFF_MAX_S)
                )
                child.restart_at = now + (0.0 if lived > STABLE_AFTER_S else child.backoff_s)
                logger.warning(
                    "worker process %d (pid %s) exited with %s after %.1f s; restarting in %.1f s",
                    child.index,
                    process.pid,
                    code,
                    lived,
                    child.restart_at - now,
                )
                self.metrics.child_exited(child.index, process.pid)
                process.close()
                child.process = None
            if child.process is None and now >= child.restart_at:
                child.restarts += 1
                self._spawn(child)

    def _stop_children(self) -> None:
        alive = [c.process for c in self.children if c.process is not None]
        for process in alive:
            if process.is_alive():
                process.terminate()
        deadline = time.monotonic() + CHILD_STOP_TIMEOUT_S
        for process in alive:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                logger.warning("worker process pid %s did not stop; killing it", process.pid)
                process.kill()
                process.join(2.0)
        for child in self.children:
            child.process = None

    # -- loop ------------------------------------------------------------------

    def _run(self) -> None:
        ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        auth: Any = None
        try:
            auth = start_authenticator(ctx, self.settings.curve)
            mgmt = make_server_socket(
                ctx,
                zmq.REP,
                self.settings.worker.mgmt,
                self.settings.curve,
                self.settings.worker.max_message_bytes,
                guard=auth,
                label="worker mgmt",
            )
        except BaseException as exc:  # surfaced to start()'s caller
            self._error = exc
            if auth is not None:
                auth.stop()
            ctx.term()
            self._ready.set()
            return
        endpoint = mgmt.getsockopt(zmq.LAST_ENDPOINT)
        self.mgmt_endpoint = endpoint.decode() if isinstance(endpoint, bytes) else str(endpoint)
        reports = self._bind_reports(ctx)
        try:
            for child in self.children:
                self._spawn(child)
            self._ready.set()
            while not self._stop.is_set():
                if mgmt.poll(POLL_MS):
                    management.answer(mgmt, "vPoller Worker", self.status, self._stop.set)
                if self._stop.is_set():
                    break
                self._watch(time.monotonic())
                self._update_metrics(reports)
        finally:
            self._ready.set()
            self._stop_children()
            mgmt.close(0)
            self._close_reports(reports)
            if auth is not None:
                auth.stop()
            ctx.term()
            logger.info(
                "worker manager stopped; restarts: %d",
                sum(max(0, c.restarts) for c in self.children),
            )

    # -- metrics -----------------------------------------------------------------

    def _bind_reports(self, ctx: zmq.Context[zmq.Socket[bytes]]) -> zmq.Socket[bytes]:
        """A PULL socket in a private folder for the children's reports.

        Always bound: besides the metrics, ``status`` shows each child's
        agents from them (sessions, inventory index, mirror age).
        """
        self._report_dir = tempfile.mkdtemp(prefix="vpoller-worker-")  # mode 0700
        sock = ctx.socket(zmq.PULL)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, self.settings.worker.max_message_bytes)
        self.report_endpoint = f"ipc://{self._report_dir}/reports"
        sock.bind(self.report_endpoint)
        return sock

    def _update_metrics(self, reports: zmq.Socket[bytes]) -> None:
        for _ in range(256):
            try:
                frame = reports.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
            self.metrics.report_frame(frame)
        alive = sum(1 for c in self.children if c.process is not None and c.process.is_alive())
        self.metrics.children(alive, sum(c.restarts for c in self.children))

    def _close_reports(self, reports: zmq.Socket[bytes] | None) -> None:
        if reports is not None:
            reports.close(0)
            shutil.rmtree(self._report_dir, ignore_errors=True)

    def status(self) -> dict[str, Any]:
        """A description of the worker for the management ``status`` request."""
        w = self.settings.worker
        try:
            agents = [a.host for a in Registry(w.db, w.key_file).agents(enabled_only=True)]
        except VPollerError as exc:
            agents = []
            logger.warning("status: cannot read the agent registry: %s", exc)
        children = [
            {
                "index": c.index,
                "pid": c.process.pid if c.process else None,
                "alive": bool(c.process and c.process.is_alive()),
                "restarts": c.restarts,
                "exit_codes": c.exit_codes,
                # as last reported by the child, about once a second
                "agents": self.metrics.child_agents(c.index),
            }
            for c in self.children
        ]
        return {
            "component": "vpoller-worker",
            "status": "running",
            "version": VERSION,
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "uptime_s": round(time.time() - self._started, 1),
            "endpoints": {"proxy": list(w.proxy), "mgmt": self.mgmt_endpoint},
            "concurrency": self.processes,
            "threads_per_agent": w.agent_concurrency,
            "children": children,
            "children_alive": sum(1 for c in children if c["alive"]),
            "restarts": sum(c["restarts"] for c in children),
            "agents": agents,
            "db": w.db,
            "helpers": list(w.helpers),
            "tasks": [t["method"] for t in describe()],
        }
