"""A whole vPoller stack in real processes, for tests, the demo and benchmarks.

:class:`Stack` registers a simulator as an agent in a fresh registry, writes a
configuration whose endpoints are ephemeral loopback ports, starts
``vpoller-proxy`` and ``vpoller-worker`` as separate processes, and waits
until the worker serves the agent. ``close()`` always ends every process.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import orjson

from vpoller.cli.keys import generate as generate_keys
from vpoller.client import Client, management_request
from vpoller.config import CurveSettings
from vpoller.errors import VPollerError
from vpoller.registry import Registry
from vpoller.testing.simulator import Simulator

logger = logging.getLogger(__name__)

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0


class StackError(VPollerError):
    """A process of the stack did not start or stop as expected."""


def _cli(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", f"vpoller.cli.{module}", *args]


class Stack:
    """Proxy + worker processes serving one simulator as agent ``agent``."""

    def __init__(
        self,
        sim: Simulator,
        workdir: Path,
        *,
        processes: int = 1,
        agent: str = "127.0.0.1",
        config_extra: str = "",
        proxy_extra: str = "",
        debug: bool = False,
        curve: bool = False,
        authorize_worker: bool = True,
    ) -> None:
        """``proxy_extra``: lines for the ``[proxy]`` section; ``config_extra``:
        text after ``[worker]`` (more worker keys or other sections).

        With ``curve`` every endpoint requires CURVE: key pairs ``proxy``,
        ``worker`` and ``client`` are made under ``workdir/keys``, and the
        ``authorized`` folder holds the client's public key and, with
        ``authorize_worker``, the worker's. Proxy and worker then get
        separate configuration files, each with its own key pair.
        """
        self.sim = sim
        self.workdir = workdir
        self.processes = processes
        self.agent = agent
        self.config_extra = config_extra
        self.proxy_extra = proxy_extra
        self.debug = debug
        self.curve = curve
        self.authorize_worker = authorize_worker
        self.keys = workdir / "keys"
        self.db = workdir / "vconnector.db"
        self.config_path = workdir / "vpoller.conf"
        self.worker_config_path = workdir / "worker.conf" if curve else self.config_path
        self.proxy: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.extra_proxies: list[subprocess.Popen[bytes]] = []
        self.extra_backends: list[str] = []
        self.endpoints: dict[str, str] = {}
        self.worker_mgmt: list[str] = []

    # -- set-up --------------------------------------------------------------

    def register_agent(
        self, host: str | None = None, port: int | None = None, ca_file: str | None = None
    ) -> None:
        """Add (or update) an agent for the simulator in the registry and enable it."""
        registry = Registry(self.db)
        registry.init()
        host = host or self.agent
        known = {a.host for a in registry.agents()}
        if host in known:
            registry.update(
                host,
                self.sim.username,
                self.sim.password,
                port=port or self.sim.port,
                ca_file=ca_file or self.sim.ca_file,
            )
        else:
            registry.add(
                host,
                self.sim.username,
                self.sim.password,
                port=port or self.sim.port,
                ca_file=ca_file or self.sim.ca_file,
            )
        registry.enable(host)

    def make_keys(self) -> None:
        """Create the CURVE key pairs and the authorized folder (once)."""
        if (self.keys / "authorized").is_dir():
            return
        for name in ("proxy", "worker", "client"):
            generate_keys(self.keys, name)
        authorized = self.keys / "authorized"
        authorized.mkdir()
        allowed = ["client", "worker"] if self.authorize_worker else ["client"]
        for name in allowed:
            shutil.copy(self.keys / f"{name}.key", authorized / f"{name}.key")

    def key(self, name: str, secret: bool = False) -> str:
        """Path of a CURVE key file of the stack (``proxy``, ``worker``, ``client``)."""
        return str(self.keys / f"{name}.key{'_secret' if secret else ''}")

    def client_curve(self, server: str = "proxy") -> CurveSettings | None:
        """CURVE settings of an authorised client of ``server``; None without CURVE."""
        if not self.curve:
            return None
        return CurveSettings(
            enabled=True, secret_key=self.key("client", secret=True), server_key=self.key(server)
        )

    def _curve_section(self, name: str) -> str:
        if not self.curve:
            return ""
        return f"""
[curve]
enabled = true
secret_key = {self.key(name, secret=True)}
server_key = {self.key("proxy")}
authorized_keys = {self.keys / "authorized"}
"""

    def write_config(
        self, backend: str = "tcp://127.0.0.1:*", frontend: str = "tcp://127.0.0.1:*"
    ) -> None:
        if self.curve:
            self.make_keys()
        text = f"""
[proxy]
frontend = {frontend}
backend = {backend}
mgmt = tcp://127.0.0.1:*
request_timeout_ms = 10000
{self.proxy_extra}

[worker]
db = {self.db}
proxy = {", ".join([self.endpoints.get("backend", ""), *self.extra_backends])}
mgmt = tcp://127.0.0.1:*
connect_timeout_s = 3
{self.config_extra}
"""
        self.config_path.write_text(text + self._curve_section("proxy"), encoding="utf-8")
        if self.worker_config_path != self.config_path:
            self.worker_config_path.write_text(
                text + self._curve_section("worker"), encoding="utf-8"
            )

    def start(self) -> None:
        """Register the agent, start proxy and worker, wait until requests succeed."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.register_agent()
        self.start_proxy()
        self.start_worker()
        self.wait_ready()

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - kept open for the child
        # The daemons end by themselves if this process dies without closing them.
        env = dict(os.environ, PYTHONUNBUFFERED="1", VPOLLER_EXIT_WITH_PARENT=str(os.getpid()))
        try:
            return subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        finally:
            log.close()

    def start_proxy(self, backend: str | None = None, frontend: str | None = None) -> None:
        """Start ``vpoller-proxy``; ``backend``/``frontend`` pin endpoints (for restarts)."""
        self.write_config(backend or "tcp://127.0.0.1:*", frontend or "tcp://127.0.0.1:*")
        ep_file = self.workdir / "proxy-endpoints.json"
        ep_file.unlink(missing_ok=True)
        argv = _cli(
            "proxy",
            "-f",
            str(self.config_path),
            "--endpoints-file",
            str(ep_file),
            *(["-d"] if self.debug else []),
            "start",
        )
        self.proxy = self._spawn("proxy", argv)
        self.endpoints = self._read_endpoints(ep_file, self.proxy)
        self.write_config(self.endpoints["backend"], self.endpoints["frontend"])

    def start_extra_proxy(self) -> dict[str, str]:
        """Start another proxy; workers started afterwards connect to it too."""
        index = len(self.extra_proxies) + 1
        config = self.workdir / f"proxy{index}.conf"
        config.write_text(
            "[proxy]\nfrontend = tcp://127.0.0.1:*\nbackend = tcp://127.0.0.1:*\n"
            f"mgmt = tcp://127.0.0.1:*\n{self.proxy_extra}\n",
            encoding="utf-8",
        )
        ep_file = self.workdir / f"proxy{index}-endpoints.json"
        argv = _cli("proxy", "-f", str(config), "--endpoints-file", str(ep_file), "start")
        process = self._spawn(f"proxy{index}", argv)
        self.extra_proxies.append(process)
        endpoints = self._read_endpoints(ep_file, process)
        self.extra_backends.append(endpoints["backend"])
        self.write_config(self.endpoints["backend"], self.endpoints["frontend"])
        return endpoints

    def start_worker(self, processes: int | None = None) -> subprocess.Popen[bytes]:
        """Start one ``vpoller-worker`` manager with ``processes`` children."""
        index = len(self.workers)
        ep_file = self.workdir / f"worker{index}-endpoints.json"
        ep_file.unlink(missing_ok=True)
        argv = _cli(
            "worker",
            "-f",
            str(self.worker_config_path),
            "--endpoints-file",
            str(ep_file),
            "-c",
            str(processes or self.processes),
            *(["-d"] if self.debug else []),
            "start",
        )
        worker = self._spawn(f"worker{index}", argv)
        self.workers.append(worker)
        self.worker_mgmt.append(self._read_endpoints(ep_file, worker)["mgmt"])
        return worker

    def _read_endpoints(self, path: Path, process: subprocess.Popen[bytes]) -> dict[str, str]:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if path.exists() and path.stat().st_size > 0:
                value: dict[str, str] = orjson.loads(path.read_bytes())
                return value
            if process.poll() is not None:
                raise StackError(
                    f"{process.args!r} exited with {process.returncode}: {self.log_tail()}"
                )
            time.sleep(0.05)
        raise StackError(f"{process.args!r} did not report its endpoints: {self.log_tail()}")

    def wait_ready(self, agent: str | None = None, workers: int = 1) -> None:
        """Wait until ``workers`` workers serve ``agent`` and a request succeeds."""
        agent = agent or self.agent
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            status = self.proxy_status()
            result = status.get("result") or {}
            serving = [w for w in result.get("workers", []) if agent in w.get("agents", [])]
            if len(serving) >= workers:
                reply = self.request({"method": "about", "hostname": agent}, timeout_ms=5000)
                if isinstance(reply, dict) and reply.get("success") == 0:
                    return
            time.sleep(0.1)
        raise StackError(f"stack did not become ready: {self.log_tail()}")

    # -- use -------------------------------------------------------------------

    @property
    def frontend(self) -> str:
        return self.endpoints["frontend"]

    def client(self, timeout_ms: int = 10_000, retries: int = 1) -> Client:
        return Client(
            self.frontend, timeout_ms=timeout_ms, retries=retries, curve=self.client_curve()
        )

    def request(
        self, request: dict[str, Any], timeout_ms: int = 10_000, retries: int = 1
    ) -> dict[str, Any] | str:
        return self.client(timeout_ms, retries).run(request)

    def proxy_status(self) -> dict[str, Any]:
        return management_request(
            self.endpoints["mgmt"], "status", timeout_ms=3000, curve=self.client_curve()
        )

    def worker_status(self, index: int = 0) -> dict[str, Any]:
        return management_request(
            self.worker_mgmt[index], "status", timeout_ms=3000, curve=self.client_curve("worker")
        )

    def log_tail(self, lines: int = 30) -> str:
        out = []
        for log in sorted(self.workdir.glob("*.log")):
            text = log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
            out.append(f"--- {log.name}\n" + "\n".join(text))
        return "\n".join(out)

    # -- tear-down ---------------------------------------------------------------

    @staticmethod
    def _end(process: subprocess.Popen[bytes] | None) -> None:
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            logger.warning("process %s did not stop; killing its group", process.pid)
        # Whatever the leader did, nothing of its group may outlive the stack.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)

    def stop_proxy(self) -> None:
        self._end(self.proxy)

    def close(self) -> None:
        for worker in self.workers:
            self._end(worker)
        for process in [self.proxy, *self.extra_proxies]:
            self._end(process)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
