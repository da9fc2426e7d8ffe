"""The vSphere agents of one worker process, each with its own thread pool.

A separate pool per agent means one slow or unreachable vCenter can occupy
only its own threads: requests for every other agent keep flowing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from vpoller.registry import AgentRecord
from vpoller.vsphere.agent import VSphereAgent

logger = logging.getLogger(__name__)

PIPELINE_DEPTH = 2


@dataclass
class _Slot:
    record: AgentRecord
    agent: VSphereAgent
    pool: ThreadPoolExecutor


class AgentPool:
    """Agents by host name, kept in step with the registry's enabled agents."""

    def __init__(
        self,
        concurrency: int,
        connect_timeout_s: float,
        mirror: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.concurrency = concurrency
        self.connect_timeout_s = connect_timeout_s
        self.mirror = dict(mirror or {})  # [mirror] properties for every agent's index
        self._slots: dict[str, _Slot] = {}

    def sync(self, records: list[AgentRecord]) -> bool:
        """Add, replace and drop agents to match ``records``; True when anything changed."""
        wanted = {r.host: r for r in records if r.enabled}
        changed = False
        for host in list(self._slots):
            if host not in wanted or wanted[host] != self._slots[host].record:
                self._drop(host)
                changed = True
        for host, record in wanted.items():
            if host not in self._slots:
                agent = VSphereAgent(
                    record,
                    connect_timeout_s=self.connect_timeout_s,
                    concurrency=self.concurrency,
                    mirror=self.mirror,
                )
                pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"agent-{host}")
                self._slots[host] = _Slot(record, agent, pool)
                changed = True
        return changed

    def get(self, host: str) -> VSphereAgent | None:
        slot = self._slots.get(host)
        return slot.agent if slot else None

    def submit(self, host: str, fn: Callable[[VSphereAgent], Any]) -> Future[Any]:
        """Run ``fn(agent)`` on the agent's own thread pool."""
        slot = self._slots[host]
        return slot.pool.submit(fn, slot.agent)

    def slots(self) -> dict[str, int]:
        """Requests taken per agent, as announced to proxies.

        Twice the agent's threads: one request waits on each thread while
        another runs, so the pipeline from the proxy never runs dry, while at
        most ``concurrency`` calls per process ever reach the vCenter.
        """
        return {host: self.concurrency * PIPELINE_DEPTH for host in self._slots}

    def status(self) -> list[dict[str, Any]]:
        return [slot.agent.status() for slot in self._slots.values()]

    def _drop(self, host: str) -> None:
        slot = self._slots.pop(host)
        slot.pool.shutdown(wait=False, cancel_futures=True)
        slot.agent.close()
        logger.info("agent %s removed", host)

    def close(self) -> None:
        for host in list(self._slots):
            self._drop(host)
