"""Prometheus self-metrics of the proxy and the worker manager, and their HTTP endpoint.

Each component owns a private :class:`~prometheus_client.CollectorRegistry`
(never the library's global one), so several proxies or managers in one
Python process -- as in tests -- do not clash.

* :class:`ProxyMetrics`: the proxy calls :meth:`ProxyMetrics.answered` once
  for every client request it answers (its one final outcome, with the time
  since it was received); gauges and the proxy's own counters are read at
  scrape time from :meth:`vpoller.proxy.Proxy.load`.
* :class:`WorkerMetrics`: the worker manager knows its children and their
  restarts; what each child knows (its vSphere sessions, reconnects, requests
  in flight) arrives as a small JSON report over a one-way pipe per child, sent
  about once a second (see :func:`encode_report`). Reconnects of a child that
  died are folded into a per-agent base, so the counters never go backwards.
* :class:`MetricsServer`: the ``/metrics`` HTTP endpoint of one registry.

Every value lives under the ``vpoller_`` prefix, in base units (seconds),
counters end in ``_total``.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any, Final, Protocol
from wsgiref.simple_server import WSGIServer

import orjson
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import start_http_server
from prometheus_client.registry import Collector

from vpoller.constants import VERSION
from vpoller.errors import TransportError

logger = logging.getLogger(__name__)

# Latency buckets, seconds: from a cached property read to a slow performance query.
LATENCY_BUCKETS_S: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Clients choose the method name; bound the label's cardinality.
MAX_METHOD_LABELS: Final = 256
OTHER_METHOD: Final = "other"
INVALID_METHOD: Final = "invalid"
_METHOD_RE: Final = re.compile(r"[a-z][a-z0-9_.]{0,63}")

# Outcomes of a client request at the proxy (label ``outcome``).
OUTCOME_SUCCESS: Final = "success"  # a worker answered with success 0 (or helper text)
OUTCOME_ERROR: Final = "error"  # a worker answered with success 1
OUTCOME_REJECTED: Final = "rejected"  # malformed; answered by the proxy itself
OUTCOME_DROPPED: Final = "dropped"  # no envelope: nobody to answer
OUTCOME_NO_WORKER: Final = "no_worker"  # no worker serves the agent
OUTCOME_QUEUE_FULL: Final = "queue_full"
OUTCOME_TIMEOUT: Final = "timeout"
OUTCOME_WORKER_LOST: Final = "worker_lost"  # non-idempotent request of a dead worker
OUTCOME_SHUTDOWN: Final = "shutdown"

REPORT_INTERVAL_S: Final = 1.0


class ProxyLoad(Protocol):
    """What :class:`ProxyMetrics` reads from the proxy at scrape time."""

    def load(self) -> dict[str, int]: ...


def _info(component: str) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "vpoller_build_info", "vPoller version of this component", labels=["version", "component"]
    )
    family.add_metric([VERSION, component], 1)
    return family


class ProxyMetrics:
    """The proxy's metrics; thread-safe (the proxy loop writes, the HTTP thread reads)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "vpoller_proxy_requests",
            "Client requests answered by the proxy, by method and outcome",
            ["method", "outcome"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "vpoller_proxy_request_duration_seconds",
            "Time from receiving a client request to sending its reply",
            ["method"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self._methods: set[str] = set()
        self._lock = threading.Lock()
        self._source: ProxyLoad | None = None
        self.registry.register(_ProxyCollector(self))

    def watch(self, source: ProxyLoad) -> None:
        """Read gauges and totals from ``source`` (the proxy) at scrape time."""
        self._source = source

    def method_label(self, method: str | None) -> str:
        """``method`` as a label value: bounded in number and shape."""
        if not method:
            return INVALID_METHOD
        if method in self._methods:
            return method
        if not _METHOD_RE.fullmatch(method):
            return OTHER_METHOD
        with self._lock:
            if len(self._methods) >= MAX_METHOD_LABELS:
                return OTHER_METHOD
            self._methods.add(method)
        return method

    def answered(self, method: str | None, outcome: str, latency_s: float | None = None) -> None:
        """Count one answered request; ``latency_s`` is None when it was never parsed."""
        label = self.method_label(method)
        self.requests.labels(label, outcome).inc()
        if latency_s is not None:
            self.duration.labels(label).observe(max(0.0, latency_s))


def reply_outcome(body: bytes) -> str:
    """The outcome of a worker's reply frame (helper text counts as success)."""
    if body.startswith((b'{"success":1', b'{"success": 1')):
        return OUTCOME_ERROR
    return OUTCOME_SUCCESS


class _ProxyCollector(Collector):
    def __init__(self, metrics: ProxyMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield _info("proxy")
        source = self.metrics._source
        if source is None:
            return
        load = source.load()
        for name, doc in (
            ("queued", "Requests waiting for a worker with a free slot"),
            ("inflight", "Requests sent to a worker and not yet answered"),
        ):
            yield GaugeMetricFamily(f"vpoller_proxy_requests_{name}", doc, value=load[name])
        yield GaugeMetricFamily(
            "vpoller_proxy_workers", "Workers connected and heartbeating", value=load["workers"]
        )
        yield GaugeMetricFamily(
            "vpoller_proxy_agents",
            "vSphere agents served by at least one worker",
            value=load["agents"],
        )
        for name, doc in (
            ("received", "Client messages received on the frontend"),
            ("resent", "Requests re-sent to another worker after theirs was lost"),
            ("timed_out", "Requests answered with a timeout error by the proxy"),
            ("rejected", "Malformed requests answered (or dropped) by the proxy itself"),
        ):
            yield CounterMetricFamily(f"vpoller_proxy_requests_{name}", doc, value=load[name])


# -- worker manager ------------------------------------------------------------


def encode_report(index: int, pid: int, inflight: int, agents: Iterable[dict[str, Any]]) -> bytes:
    """A child's report to its manager: its requests in flight and its agents' state."""
    return orjson.dumps(
        {
            "index": index,
            "pid": pid,
            "inflight": inflight,
            "agents": [
                {
                    "host": a.get("host"),
                    "connected": bool(a.get("connected")),
                    "reconnects": int(a.get("reconnects") or 0),
                    # the session's inventory index and mirror (worker status shows it)
                    **({"inventory": a["inventory"]} if a.get("inventory") else {}),
                }
                for a in agents
            ],
        }
    )


class WorkerMetrics:
    """The worker manager's metrics: children from the manager, sessions from reports."""

    def __init__(self, processes: int, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.processes = processes
        self._lock = threading.Lock()
        self._alive = 0
        self._restarts = 0
        self._reports: dict[int, dict[str, Any]] = {}
        self._reconnect_base: dict[str, int] = {}
        self._exited: set[int] = set()
        self.registry.register(_WorkerCollector(self))

    def children(self, alive: int, restarts: int) -> None:
        """The manager's view: live children and restarts so far."""
        with self._lock:
            self._alive, self._restarts = alive, restarts

    def report_frame(self, frame: bytes) -> None:
        """Take a child's report (see :func:`encode_report`); a malformed one is ignored."""
        try:
            value = orjson.loads(frame)
        except orjson.JSONDecodeError:
            logger.debug("ignored a malformed worker process report")
            return
        if not isinstance(value, dict) or not isinstance(value.get("agents"), list):
            return
        index, pid = value.get("index"), value.get("pid")
        if not isinstance(index, int) or not isinstance(pid, int):
            return
        value["received"] = time.monotonic()
        with self._lock:
            if pid not in self._exited:  # a late report of a dead child must not revive it
                self._reports[index] = value

    def child_agents(self, index: int) -> list[dict[str, Any]]:
        """The agents of child ``index`` as last reported; ages grown by the report's own age."""
        with self._lock:
            report = self._reports.get(index)
        if report is None:
            return []
        late_s = time.monotonic() - float(report["received"])
        out = []
        for reported in report["agents"]:
            agent = dict(reported)
            inv = agent.get("inventory")
            if isinstance(inv, dict) and isinstance(inv.get("age_s"), int | float):
                agent["inventory"] = {**inv, "age_s": round(inv["age_s"] + late_s, 2)}
            out.append(agent)
        return out

    def child_exited(self, index: int, pid: int | None) -> None:
        """Forget a dead child's sessions; keep its reconnects in the totals."""
        with self._lock:
            if pid is not None:
                self._exited.add(pid)
            old = self._reports.pop(index, None)
            if old is not None and old.get("pid") != pid:
                self._reports[index] = old  # a report of the child's successor
                return
            for agent in (old or {}).get("agents", []):
                host = str(agent.get("host"))
                self._reconnect_base[host] = self._reconnect_base.get(host, 0) + int(
                    agent.get("reconnects") or 0
                )

    def snapshot(self) -> dict[str, Any]:
        """The values a scrape shows (also handy for tests and ``status``)."""
        with self._lock:
            sessions: dict[str, int] = {}
            reconnects = dict(self._reconnect_base)
            inflight = 0
            for report in self._reports.values():
                inflight += int(report.get("inflight") or 0)
                for agent in report.get("agents", []):
                    host = str(agent.get("host"))
                    sessions[host] = sessions.get(host, 0) + (1 if agent.get("connected") else 0)
                    reconnects[host] = reconnects.get(host, 0) + int(agent.get("reconnects") or 0)
            return {
                "alive": self._alive,
                "restarts": self._restarts,
                "inflight": inflight,
                "sessions": sessions,
                "reconnects": reconnects,
            }


class _WorkerCollector(Collector):
    def __init__(self, metrics: WorkerMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield _info("worker")
        snap = self.metrics.snapshot()
        yield GaugeMetricFamily(
            "vpoller_worker_processes",
            "Worker processes configured",
            value=self.metrics.processes,
        )
        yield GaugeMetricFamily(
            "vpoller_worker_processes_alive", "Worker processes running", value=snap["alive"]
        )
        yield CounterMetricFamily(
            "vpoller_worker_process_restarts",
            "Worker processes started again after they exited",
            value=snap["restarts"],
        )
        yield GaugeMetricFamily(
            "vpoller_worker_requests_inflight",
            "Requests being run by the worker processes (as last reported)",
            value=snap["inflight"],
        )
        sessions = GaugeMetricFamily(
            "vpoller_worker_agent_sessions",
            "Logged-in vSphere sessions per agent, summed over worker processes",
            labels=["agent"],
        )
        for host, count in sorted(snap["sessions"].items()):
            sessions.add_metric([host], count)
        yield sessions
        reconnects = CounterMetricFamily(
            "vpoller_worker_agent_reconnects",
            "vSphere sessions re-established after one was lost, per agent",
            labels=["agent"],
        )
        for host, count in sorted(snap["reconnects"].items()):
            reconnects.add_metric([host], count)
        yield reconnects


# -- the HTTP endpoint -----------------------------------------------------------


class MetricsServer:
    """Serves one registry at ``http://<address>:<port>/metrics`` from a daemon thread."""

    def __init__(self, registry: CollectorRegistry, address: str, port: int) -> None:
        self.registry = registry
        self.address = address
        self.requested_port = port
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind and serve; ``port`` 0 picks a free one (see :attr:`port`)."""
        try:
            self._server, self._thread = start_http_server(
                self.requested_port, self.address, self.registry
            )
        except OSError as exc:
            raise TransportError(
                f"cannot serve metrics on {self.address}:{self.requested_port}: {exc.strerror}"
            ) from None
        logger.info("metrics on %s", self.url)

    @property
    def port(self) -> int:
        return self._server.server_port if self._server is not None else 0

    @property
    def url(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"http://{host}:{self.port}/metrics"

    def stop(self, timeout: float | None = 5.0) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout)
        self._server = None


def serve_metrics(registry: CollectorRegistry, address: str, port: int) -> MetricsServer | None:
    """Start a :class:`MetricsServer` unless ``port`` is 0 (metrics off)."""
    if port == 0:
        return None
    server = MetricsServer(registry, address, port)
    server.start()
    return server


def metrics_url(server: MetricsServer | None) -> dict[str, str]:
    """``{"metrics": <url>}`` for a component's endpoints file; empty when metrics are off."""
    return {} if server is None else {"metrics": server.url}
