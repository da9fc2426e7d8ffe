"""Performance metrics: the counter catalogue, historical intervals and batched QueryPerf.

The task methods in :mod:`vpoller.vsphere.tasks.perf` are thin wrappers around
:func:`counter_info`, :func:`interval_info`, :func:`metric_info`,
:func:`metric_get` and :func:`vm_cpu_usage_percent`. What they share:

- Counters by name and intervals by name come from the catalogue of
  :mod:`vpoller.vsphere.perfcounters`, read once per session.
- Without ``perf-interval`` a query asks for real-time samples at the entity's
  own refresh rate (``QueryPerfProviderSummary``, cached per entity and
  session). An entity without real-time statistics (a datastore, a cluster, a
  datacenter: ``currentSupported`` false) gets the server's shortest enabled
  historical interval instead (``Past day`` on a default vCenter). With
  ``perf-interval`` the named historical interval is used; ``maxSample`` is
  ignored by vCenter for historical data, so those queries ask for a window of
  ``max-sample + 2`` sampling periods (server time) and keep the newest samples.
- ``instance``: ``""`` is the aggregate, any other string one instance; absent
  means every instance, which is expanded through ``QueryAvailablePerfMetric``
  rather than sent as ``"*"``, so that the metric count of a query is known
  exactly (and only counters the entity really has are asked for).
- One QueryPerf carries every entity and counter of a request, split into as
  few queries as the server's per-query metric limit allows (entities x
  counters x instances; ``config.vpxd.stats.maxQueryMetrics``, else 64 before
  vCenter 6.5 and 256 since, a value <= 0 meaning no limit).
- A sample value of -1 is vCenter's "no data for this sample" and is dropped.
  A query that finds no samples (a counter the object lacks, data not yet
  rolled up) succeeds with an empty result and says so in ``msg``.
- A powered-off (or suspended) VM and a host that is not connected cannot have
  performance data: a request for one such object fails with
  :class:`NoPerformanceDataError` naming it and the reason; in a batch such
  objects are left out and named in ``msg``.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from pyVmomi import vim

from vpoller.errors import RequestError, VSphereError
from vpoller.request import Reply, success
from vpoller.vsphere import objects
from vpoller.vsphere.perfcounters import (
    Catalogue,
    catalogue,
    counter_name,
    max_query_metrics,
    refresh_rate,
    server_now,
)

if TYPE_CHECKING:
    from vpoller.request import Request
    from vpoller.vsphere.agent import VSphereAgent
    from vpoller.vsphere.collector import ObjectProps
    from vpoller.vsphere.objects import ObjectType

log = logging.getLogger(__name__)

# How long an entity's list of available metrics is reused (per session).
AVAILABLE_METRICS_TTL_S = 300.0
AVAILABLE_CACHE_KEY = "perf.available_metrics"

AGGREGATE_INSTANCE = ""
# vCenter's marker of a sample it has no value for.
MISSING_VALUE = -1
# Historical data lags (rollups run every few minutes): ask for this many
# sampling periods more than wanted so the newest ``max-sample`` are there.
HISTORICAL_SLACK_PERIODS = 2
CPU_USAGE_COUNTER = "cpu.usage.percent.average"
# Counters of unit "percent" are reported in hundredths of a percent.
PERCENT_SCALE = 100

MSG_SAMPLES = "Successfully retrieved performance metrics"
MSG_NO_SAMPLES = "No performance samples found for the requested counters"
MSG_COUNTERS = MSG_SAMPLES
MSG_INTERVALS = "Successfully retrieved performance intervals"

# pyVmomi's generated classes are untyped.
_PM: Any = vim.PerformanceManager

K = TypeVar("K")
M = TypeVar("M")


class NoPerformanceDataError(VSphereError):
    """The object cannot have performance data in its current state."""


class PoweredOffError(NoPerformanceDataError):
    """The VM is not powered on."""


class HostDisconnectedError(NoPerformanceDataError):
    """The host is not connected to vCenter."""


# -- splitting -------------------------------------------------------------------------


def split_queries(
    items: Iterable[tuple[K, Sequence[M]]], limit: int | None
) -> list[list[tuple[K, list[M]]]]:
    """Pack per-entity metric lists into queries of at most ``limit`` metrics in all.

    Entities keep their order; an entity is split only where a query is full,
    so it appears at most once per query. Entities without metrics are left
    out. ``limit`` None means one query.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    batches: list[list[tuple[K, list[M]]]] = []
    current: list[tuple[K, list[M]]] = []
    room = limit
    for key, metrics in items:
        pending = list(metrics)
        while pending:
            if room is None:
                current.append((key, pending))
                break
            if room == 0:
                batches.append(current)
                current, room = [], limit
                assert room is not None
            take, pending = pending[:room], pending[room:]
            current.append((key, take))
            room -= len(take)
    if current:
        batches.append(current)
    return batches


# -- objects and their state -------------------------------------------------------------

_STATE_PATHS = {"vm": "runtime.powerState", "host": "runtime.connectionState"}


def _no_data_reason(otype: ObjectType, obj: ObjectProps) -> NoPerformanceDataError | None:
    name = obj.props.get("name", obj.ref._moId)
    if otype.key == "vm":
        state = str(obj.props.get("runtime.powerState"))
        if state != "poweredOn":
            what = "suspended" if state == "suspended" else "powered off"
            return PoweredOffError(f"VM '{name}' is {what}: no performance data")
    if otype.key == "host":
        state = str(obj.props.get("runtime.connectionState"))
        if state != "connected":
            what = "not responding" if state == "notResponding" else "disconnected"
            return HostDisconnectedError(f"Host '{name}' is {what}: no performance data")
    return None


def _available(
    agent: VSphereAgent, otype: ObjectType, request: Request
) -> tuple[list[ObjectProps], list[str]]:
    """The named objects that can have data, and why the others (batch only) were left out."""
    paths = list(otype.always)
    if otype.key in _STATE_PATHS:
        paths.append(_STATE_PATHS[otype.key])
    found = objects.resolve(agent, otype, request, paths)
    unique = list({obj.ref._moId: obj for obj in found}.values())
    usable: list[ObjectProps] = []
    skipped: list[str] = []
    for obj in unique:
        reason = _no_data_reason(otype, obj)
        if reason is None:
            usable.append(obj)
        elif request.is_batch:
            skipped.append(str(reason))
        else:
            raise reason
    return usable, skipped


def _identity(otype: ObjectType, obj: ObjectProps) -> dict[str, Any]:
    """What names the object in batch results: its ``name`` (datastores: ``info.url`` too)."""
    return {path: obj.props.get(path) for path in otype.always}


def _message(base: str, skipped: Sequence[str]) -> str:
    return f"{base}; left out: {'; '.join(skipped)}" if skipped else base


# -- intervals and metric ids -----------------------------------------------------------


@dataclass
class _Target:
    """One entity of a query: which interval and which metrics to ask for."""

    obj: ObjectProps
    interval_id: int
    historical: bool
    metrics: list[Any] = field(default_factory=list)


def _interval_of(
    agent: VSphereAgent, cat: Catalogue, otype: ObjectType, obj: ObjectProps, named: Any | None
) -> tuple[int, bool]:
    """``(intervalId, historical)`` for the entity: ``named``, real-time, or the shortest."""
    if named is not None:
        return int(named.samplingPeriod), True
    rate = refresh_rate(agent, obj.ref)
    if rate is not None:
        return rate, False
    shortest = cat.shortest_interval()
    if shortest is None:
        raise NoPerformanceDataError(
            f"{otype.label.capitalize()} '{obj.props.get('name')}' has no real-time "
            "statistics and the server has no enabled historical interval"
        )
    return int(shortest.samplingPeriod), True


def _requested_counters(cat: Catalogue, request: Request) -> list[Any]:
    """The ``PerfCounterInfo`` of each requested counter name, without repeats."""
    infos = [cat.counter(name) for name in dict.fromkeys(request.counters)]
    return list({int(info.key): info for info in infos}.values())


def _available_metrics(agent: VSphereAgent, ref: Any, interval_id: int) -> list[Any]:
    """The entity's available metrics, cached per session for a while.

    The list is large (every counter and instance of the entity) and changes
    only when devices come or go, while asking costs more than the samples.
    """
    cache: dict[tuple[str, int], tuple[float, list[Any]]] = agent.cache.setdefault(
        AVAILABLE_CACHE_KEY, {}
    )
    key = (ref._moId, interval_id)
    now = time.monotonic()
    hit = cache.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    metrics = _query_available(agent.content.perfManager, ref, interval_id)
    cache[key] = (now + AVAILABLE_METRICS_TTL_S, metrics)
    return metrics


def _query_available(manager: Any, ref: Any, interval_id: int) -> list[Any]:
    """One QueryAvailablePerfMetric round trip (a seam for tests that count them)."""
    return list(manager.QueryAvailablePerfMetric(entity=ref, intervalId=interval_id) or ())


def _metric_ids(
    agent: VSphereAgent, target: _Target, counters: Sequence[Any], instance: str | None
) -> list[Any]:
    """Metric ids per counter (request order): one instance, or every available one."""
    if instance is not None:
        return [_PM.MetricId(counterId=info.key, instance=instance) for info in counters]
    by_counter: dict[int, list[Any]] = {}
    for metric in _available_metrics(agent, target.obj.ref, target.interval_id):
        by_counter.setdefault(int(metric.counterId), []).append(metric)
    return [
        _PM.MetricId(counterId=metric.counterId, instance=metric.instance)
        for info in counters
        for metric in by_counter.get(int(info.key), ())
    ]


# -- querying --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Sample:
    counter_key: int
    instance: str
    timestamp: datetime.datetime
    interval: int
    value: int


def _query_perf(manager: Any, specs: list[Any]) -> list[Any]:
    """One QueryPerf round trip (a seam for tests that count them)."""
    return list(manager.QueryPerf(querySpec=specs) or ())


def _spec(target: _Target, metrics: list[Any], max_sample: int, now: Any) -> Any:
    spec = _PM.QuerySpec(
        entity=target.obj.ref,
        metricId=metrics,
        intervalId=target.interval_id,
        # Ignored by vCenter for historical intervals, but keeps the reply
        # bounded on servers that honour it.
        maxSample=max_sample,
    )
    if target.historical:
        periods = max_sample + HISTORICAL_SLACK_PERIODS
        spec.startTime = now - datetime.timedelta(seconds=target.interval_id * periods)
    return spec


def _query(
    agent: VSphereAgent, targets: Sequence[_Target], max_sample: int, limit: int | None
) -> list[list[_Sample]]:
    """The newest ``max_sample`` samples of every metric of every target, per target.

    Samples come in the order of each target's metrics, oldest first.
    """
    now = server_now(agent) if any(t.historical for t in targets) else None
    manager = agent.content.perfManager
    collected: list[dict[tuple[int, str], list[_Sample]]] = [{} for _ in targets]
    batches = split_queries(((i, t.metrics) for i, t in enumerate(targets)), limit)
    for number, batch in enumerate(batches, 1):
        log.debug("QueryPerf %d/%d: %d entities", number, len(batches), len(batch))
        by_moid = {targets[i].obj.ref._moId: i for i, _ in batch}
        specs = [_spec(targets[i], metrics, max_sample, now) for i, metrics in batch]
        for entity_metric in _query_perf(manager, specs):
            index = by_moid.get(entity_metric.entity._moId)
            if index is not None:
                _collect(entity_metric, collected[index])
    out: list[list[_Sample]] = []
    for target, series in zip(targets, collected, strict=True):
        samples: list[_Sample] = []
        for metric in target.metrics:
            points = series.get((int(metric.counterId), metric.instance), [])
            points.sort(key=lambda s: s.timestamp)
            samples.extend(points[-max_sample:])
        out.append(samples)
    return out


def _collect(entity_metric: Any, into: dict[tuple[int, str], list[_Sample]]) -> None:
    infos = list(entity_metric.sampleInfo or ())
    for series in entity_metric.value or ():
        key = (int(series.id.counterId), str(series.id.instance))
        points = into.setdefault(key, [])
        # vCenter sends one value per sample info (-1 when missing); govmomi's
        # simulator drops zero values, so a shorter series is tolerated there.
        for info, value in zip(infos, series.value or (), strict=False):
            if value == MISSING_VALUE:
                continue
            points.append(_Sample(key[0], key[1], info.timestamp, int(info.interval), int(value)))


def _targets(
    agent: VSphereAgent,
    cat: Catalogue,
    otype: ObjectType,
    objs: Sequence[ObjectProps],
    named: Any | None,
) -> list[_Target]:
    return [_Target(obj, *_interval_of(agent, cat, otype, obj, named)) for obj in objs]


# -- what the tasks return ---------------------------------------------------------------------


def counter_info(agent: VSphereAgent) -> Reply:
    """Every counter the server supports, in catalogue order."""
    rows = [_counter_row(info) for info in catalogue(agent).counters]
    return success(rows, MSG_COUNTERS)


def _counter_row(info: Any) -> dict[str, Any]:
    return {
        "counterId": counter_name(info),
        "key": int(info.key),
        "group": info.groupInfo.key,
        "name": info.nameInfo.key,
        "unit": info.unitInfo.key,
        "rollupType": str(info.rollupType),
        "statsType": str(info.statsType),
        "level": info.level,
        "perDeviceLevel": info.perDeviceLevel,
        "label": info.nameInfo.label,
        "description": info.nameInfo.summary,
    }


def interval_info(agent: VSphereAgent) -> Reply:
    """The server's historical intervals."""
    rows = [
        {
            "enabled": bool(i.enabled),
            "key": int(i.key),
            "length": int(i.length),
            "level": i.level,
            "name": i.name,
            "samplingPeriod": int(i.samplingPeriod),
        }
        for i in catalogue(agent).intervals
    ]
    return success(rows, MSG_INTERVALS)


def metric_info(agent: VSphereAgent, otype: ObjectType, request: Request) -> Reply:
    """Counters available for the object(s): ``[{"counterId", "instance"}]``.

    For the interval a ``metric_get`` with the same keys would use. Filtered by
    ``counter-name`` (one or a list) and ``instance`` when given; in a batch
    each row also carries the object's identity.
    """
    cat = catalogue(agent)
    wanted = {int(info.key) for info in _requested_counters(cat, request)}
    named = cat.interval(request.perf_interval) if request.perf_interval is not None else None
    objs, skipped = _available(agent, otype, request)
    rows: list[dict[str, Any]] = []
    for target in _targets(agent, cat, otype, objs, named):
        prefix = _identity(otype, target.obj) if request.is_batch else {}
        for metric in _available_metrics(agent, target.obj.ref, target.interval_id):
            name = cat.names.get(int(metric.counterId))
            if name is None or (wanted and int(metric.counterId) not in wanted):
                continue
            if request.instance is not None and metric.instance != request.instance:
                continue
            rows.append({**prefix, "counterId": name, "instance": metric.instance})
    return success(rows, _message(MSG_COUNTERS, skipped))


def metric_get(
    agent: VSphereAgent,
    otype: ObjectType,
    request: Request,
    *,
    query_limit: int | None = None,
) -> Reply:
    """Samples of the requested counters of the object(s), see the module docstring.

    ``query_limit`` overrides the server's per-query metric limit (tests).
    """
    cat = catalogue(agent)
    counters = _requested_counters(cat, request)
    if not counters:
        raise RequestError("Missing required key 'counter-name'")
    named = cat.interval(request.perf_interval) if request.perf_interval is not None else None
    objs, skipped = _available(agent, otype, request)
    targets = _targets(agent, cat, otype, objs, named)
    for target in targets:
        target.metrics = _metric_ids(agent, target, counters, request.instance)
    limit = query_limit if query_limit is not None else max_query_metrics(agent)
    per_target = _query(agent, targets, request.max_sample, limit)
    rows: list[dict[str, Any]] = []
    for target, samples in zip(targets, per_target, strict=True):
        prefix = _identity(otype, target.obj) if request.is_batch else {}
        rows.extend(
            {
                **prefix,
                "interval": s.interval,
                "timestamp": s.timestamp.isoformat(),
                "counterId": cat.names[s.counter_key],
                "instance": s.instance,
                "value": s.value,
            }
            for s in samples
        )
    return success(rows, _message(MSG_SAMPLES if rows else MSG_NO_SAMPLES, skipped))


def vm_cpu_usage_percent(agent: VSphereAgent, request: Request) -> Reply:
    """The latest real-time ``cpu.usage.percent.average`` sample of the VM(s), in percent.

    One sample per VM, shaped like a ``vm.perf.metric.get`` sample (in a batch
    with the VM's ``name``), ``value`` a float in percent (the counter itself
    reports hundredths of a percent). A single VM without a sample yet is an
    error; in a batch it is left out and named in ``msg``.
    """
    otype = objects.OBJECT_TYPES["vm"]
    cat = catalogue(agent)
    counter = cat.counter(CPU_USAGE_COUNTER)
    objs, skipped = _available(agent, otype, request)
    targets: list[_Target] = []
    for obj in objs:
        rate = refresh_rate(agent, obj.ref)
        if rate is None:
            reason = f"VM '{obj.props.get('name')}' has no real-time statistics"
            if not request.is_batch:
                raise NoPerformanceDataError(reason)
            skipped.append(reason)
            continue
        metric = _PM.MetricId(counterId=counter.key, instance=AGGREGATE_INSTANCE)
        targets.append(_Target(obj, rate, False, [metric]))
    rows: list[dict[str, Any]] = []
    per_target = _query(agent, targets, 1, max_query_metrics(agent))
    for target, samples in zip(targets, per_target, strict=True):
        if not samples:
            reason = f"VM '{target.obj.props.get('name')}' has no CPU usage sample yet"
            if not request.is_batch:
                raise NoPerformanceDataError(reason)
            skipped.append(reason)
            continue
        latest = samples[-1]
        prefix = _identity(otype, target.obj) if request.is_batch else {}
        rows.append(
            {
                **prefix,
                "interval": latest.interval,
                "timestamp": latest.timestamp.isoformat(),
                "counterId": CPU_USAGE_COUNTER,
                "instance": AGGREGATE_INSTANCE,
                "value": round(latest.value / PERCENT_SCALE, 2),
            }
        )
    return success(rows, _message(MSG_SAMPLES, skipped))
