"""The performance manager's catalogue and the other values read once per session.

Counters are named ``group.name.unit.rollup`` (``cpu.usagemhz.megaHertz.average``;
the name part may itself hold dots, e.g. ``cpu.capacity.entitlement...``).
The catalogue (``PerformanceManager.perfCounter``) and the historical
intervals are read together in one round trip; they, the server's per-query
metric limit, each entity's refresh rate and the server's clock offset are
kept in the agent's per-session cache (:attr:`VSphereAgent.cache`), so a
reconnect reads them afresh. :mod:`vpoller.vsphere.perf` builds the queries.
"""

from __future__ import annotations

import datetime
import difflib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from pyVmomi import vim

from vpoller.errors import RequestError
from vpoller.vsphere import collector

if TYPE_CHECKING:
    from vpoller.vsphere.agent import VSphereAgent

log = logging.getLogger(__name__)

MAX_QUERY_METRICS_OPTION = "config.vpxd.stats.maxQueryMetrics"
MAX_QUERY_METRICS_BEFORE_6_5 = 64
MAX_QUERY_METRICS_SINCE_6_5 = 256

# Keys of the agent's per-session cache.
_LOCK_KEY = "perf.lock"
_CATALOGUE_KEY = "perf.catalogue"
_LIMIT_KEY = "perf.max_query_metrics"
_REFRESH_KEY = "perf.refresh_rate"
_CLOCK_KEY = "perf.clock_offset_s"

T = TypeVar("T")


class UnknownCounterError(RequestError):
    """A counter name the server's catalogue does not have."""


class UnknownIntervalError(RequestError):
    """A historical interval name the server does not have (or has disabled)."""


# -- counter names ---------------------------------------------------------------


def counter_name(info: Any) -> str:
    """The ``group.name.unit.rollup`` name of a ``PerfCounterInfo``."""
    return f"{info.groupInfo.key}.{info.nameInfo.key}.{info.unitInfo.key}.{info.rollupType}"


def split_counter_name(text: str) -> tuple[str, str, str, str]:
    """``(group, name, unit, rollup)`` of a counter name; the name part may hold dots."""
    parts = text.split(".")
    if len(parts) < 4 or not all(parts):
        raise UnknownCounterError(
            f"Performance counter '{text}' is not of the form group.name.unit.rollup"
        )
    return parts[0], ".".join(parts[1:-2]), parts[-2], parts[-1]


# -- the catalogue -----------------------------------------------------------------


@dataclass(frozen=True)
class Catalogue:
    """The server's counters and historical intervals, as read once per session."""

    counters: tuple[Any, ...]
    intervals: tuple[Any, ...]
    by_name: dict[str, Any] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)

    @classmethod
    def build(cls, counters: Iterable[Any], intervals: Iterable[Any]) -> Catalogue:
        """Index ``counters`` by name and key (the lowest key wins a duplicate name)."""
        ordered = tuple(counters)
        by_name: dict[str, Any] = {}
        for info in sorted(ordered, key=lambda c: int(c.key)):
            by_name.setdefault(counter_name(info), info)
        names = {int(info.key): counter_name(info) for info in ordered}
        return cls(ordered, tuple(intervals), by_name, names)

    def counter(self, name: str) -> Any:
        """The ``PerfCounterInfo`` called ``name``, or :class:`UnknownCounterError`."""
        info = self.by_name.get(name)
        if info is not None:
            return info
        split_counter_name(name)  # a malformed name gets its own message
        close = difflib.get_close_matches(name, self.by_name, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise UnknownCounterError(f"Unknown performance counter '{name}'{hint}")

    def interval(self, name: str) -> Any:
        """The enabled historical interval called ``name`` (case-insensitive fallback)."""
        match = next((i for i in self.intervals if i.name == name), None)
        if match is None:
            match = next((i for i in self.intervals if i.name.casefold() == name.casefold()), None)
        if match is None:
            known = ", ".join(f"'{i.name}'" for i in self.intervals) or "none"
            raise UnknownIntervalError(
                f"Unknown performance interval '{name}'; the server has: {known}"
            )
        if not match.enabled:
            raise UnknownIntervalError(f"Performance interval '{match.name}' is disabled")
        return match

    def shortest_interval(self) -> Any | None:
        """The enabled historical interval with the shortest sampling period."""
        enabled = [i for i in self.intervals if i.enabled]
        return min(enabled, key=lambda i: int(i.samplingPeriod)) if enabled else None


# -- values read once per session ------------------------------------------------------


def cached(agent: VSphereAgent, key: str, compute: Callable[[], T]) -> T:
    """``agent.cache[key]``, computed by one thread at a time when missing."""
    cache = agent.cache
    if key in cache:
        return cache[key]  # type: ignore[no-any-return]
    # dict.setdefault is atomic, so every thread of the session gets the same lock.
    lock: threading.Lock = cache.setdefault(_LOCK_KEY, threading.Lock())
    with lock:
        if key not in cache:
            cache[key] = compute()
        return cache[key]  # type: ignore[no-any-return]


def catalogue(agent: VSphereAgent) -> Catalogue:
    """The session's counter catalogue and historical intervals (one round trip, once)."""
    return cached(agent, _CATALOGUE_KEY, lambda: _read_catalogue(agent.content))


def _read_catalogue(content: Any) -> Catalogue:
    manager = content.perfManager
    found = collector.retrieve(content, [manager], ["perfCounter", "historicalInterval"])
    props = found[0].props if found else {}
    log.debug("read %d performance counters", len(props.get("perfCounter") or ()))
    return Catalogue.build(props.get("perfCounter") or (), props.get("historicalInterval") or ())


def max_query_metrics(agent: VSphereAgent) -> int | None:
    """The server's per-query metric limit, None when unlimited (read once per session)."""
    return cached(agent, _LIMIT_KEY, lambda: _read_max_query_metrics(agent.content))


def _read_max_query_metrics(content: Any) -> int | None:
    setting = content.setting
    options: Sequence[Any] = ()
    if setting is not None:
        try:
            options = setting.QueryOptions(name=MAX_QUERY_METRICS_OPTION) or ()
        except (vim.fault.InvalidName, vim.fault.NoPermission):
            # Not set (the usual case) or not readable: vCenter's built-in default applies.
            options = ()
    for option in options:
        if option.key == MAX_QUERY_METRICS_OPTION:
            try:
                value = int(option.value)
            except (TypeError, ValueError):
                break
            return value if value > 0 else None
    return limit_for_version(str(content.about.apiVersion))


def limit_for_version(api_version: str) -> int:
    """vCenter's default ``maxQueryMetrics`` for an API version such as ``"6.7.3"``."""
    numbers: list[int] = []
    for part in api_version.split(".")[:2]:
        try:
            numbers.append(int(part))
        except ValueError:
            break
    if tuple(numbers) >= (6, 5):
        return MAX_QUERY_METRICS_SINCE_6_5
    return MAX_QUERY_METRICS_BEFORE_6_5


def refresh_rate(agent: VSphereAgent, ref: Any) -> int | None:
    """The entity's real-time refresh rate in seconds; None without real-time statistics."""
    rates: dict[str, int | None] = cached(agent, _REFRESH_KEY, dict)
    moid = ref._moId
    if moid in rates:
        return rates[moid]
    summary = agent.content.perfManager.QueryPerfProviderSummary(entity=ref)
    rate = (
        int(summary.refreshRate) if summary.currentSupported and summary.refreshRate > 0 else None
    )
    rates[moid] = rate  # racing threads store the same value
    return rate


def server_now(agent: VSphereAgent) -> datetime.datetime:
    """The server's clock, from an offset measured once per session."""
    offset_s = cached(agent, _CLOCK_KEY, lambda: _clock_offset_s(agent))
    return datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=offset_s)


def _clock_offset_s(agent: VSphereAgent) -> float:
    before = time.time()
    server = agent.si.CurrentTime()
    after = time.time()
    return float(server.timestamp() - (before + after) / 2)
