"""Task methods on performance metrics: the catalogue, intervals and samples of objects.

The logic lives in :mod:`vpoller.vsphere.perf`; these are its registrations.

Result shapes:

- ``perf.metric.info``: every counter, ``{"counterId": "cpu.usage.percent.average",
  "key", "group", "name", "unit", "rollupType", "statsType", "level",
  "perDeviceLevel", "label", "description"}``.
- ``perf.interval.info``: ``{"enabled", "key", "length", "level", "name",
  "samplingPeriod"}`` per historical interval.
- ``<type>.perf.metric.info``: ``{"counterId", "instance"}`` per metric the
  object has (at its real-time refresh rate, or ``perf-interval``, or for
  objects without real-time statistics the shortest historical interval).
- ``<type>.perf.metric.get``: samples ``{"interval", "timestamp", "counterId",
  "instance", "value"}``, oldest first per metric, at most ``max-sample`` per
  metric (object, counter, instance).
- ``vm.cpu.usage.percent``: one sample per VM as above, of
  ``cpu.usage.percent.average`` at the real-time rate, ``value`` a float in
  percent (the counter reports hundredths of a percent).

Batches: ``counter-name`` may be a list (one QueryPerf for all of them). When
``name`` (or ``uuid``/``moref``) is a list, the result stays one flat list and
every row also carries the object's ``name`` (datastores: ``name`` and
``info.url``), in request order; objects that are not found are left out, as
are objects that cannot have data (powered-off VM, disconnected host), which
``msg`` names. A single object keeps SPEC's rows without ``name``.

Datastores have historical statistics only: without ``perf-interval``,
``datastore.perf.metric.get`` uses the server's shortest enabled historical
interval (``Past day``, 300 s, on a default vCenter). A query that finds no
samples succeeds with an empty result and says so in ``msg``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vpoller.vsphere import objects, perf
from vpoller.vsphere.taskregistry import task

if TYPE_CHECKING:
    from vpoller.request import Reply, Request
    from vpoller.vsphere.agent import VSphereAgent

DATACENTER = objects.OBJECT_TYPES["datacenter"]
CLUSTER = objects.OBJECT_TYPES["cluster"]
HOST = objects.OBJECT_TYPES["host"]
VM = objects.OBJECT_TYPES["vm"]
DATASTORE = objects.OBJECT_TYPES["datastore"]

_GET_KEYS = ("name", "counter-name")
_HISTORICAL_GET_KEYS = ("name", "counter-name", "perf-interval")


@task("perf.metric.info")
def perf_metric_info(agent: VSphereAgent, request: Request) -> Reply:
    """Every performance counter the server supports."""
    return perf.counter_info(agent)


@task("perf.interval.info")
def perf_interval_info(agent: VSphereAgent, request: Request) -> Reply:
    """The server's historical performance intervals."""
    return perf.interval_info(agent)


@task("datacenter.perf.metric.info", required=("name",))
def datacenter_perf_metric_info(agent: VSphereAgent, request: Request) -> Reply:
    """Counters available for the datacenter(s)."""
    return perf.metric_info(agent, DATACENTER, request)


@task("cluster.perf.metric.info", required=("name",))
def cluster_perf_metric_info(agent: VSphereAgent, request: Request) -> Reply:
    """Counters available for the cluster(s)."""
    return perf.metric_info(agent, CLUSTER, request)


@task("host.perf.metric.info", required=("name",))
def host_perf_metric_info(agent: VSphereAgent, request: Request) -> Reply:
    """Counters available for the host(s)."""
    return perf.metric_info(agent, HOST, request)


@task("vm.perf.metric.info", required=("name",))
def vm_perf_metric_info(agent: VSphereAgent, request: Request) -> Reply:
    """Counters available for the VM(s)."""
    return perf.metric_info(agent, VM, request)


@task("datastore.perf.metric.info", required=("name",))
def datastore_perf_metric_info(agent: VSphereAgent, request: Request) -> Reply:
    """Counters available for the datastore(s)."""
    return perf.metric_info(agent, DATASTORE, request)


@task("host.perf.metric.get", required=_GET_KEYS)
def host_perf_metric_get(agent: VSphereAgent, request: Request) -> Reply:
    """Samples of the host(s): real-time unless ``perf-interval`` names a historical one."""
    return perf.metric_get(agent, HOST, request)


@task("vm.perf.metric.get", required=_GET_KEYS)
def vm_perf_metric_get(agent: VSphereAgent, request: Request) -> Reply:
    """Samples of the VM(s): real-time unless ``perf-interval`` names a historical one."""
    return perf.metric_get(agent, VM, request)


@task("datastore.perf.metric.get", required=_GET_KEYS)
def datastore_perf_metric_get(agent: VSphereAgent, request: Request) -> Reply:
    """Historical samples of the datastore(s): ``perf-interval``, else the shortest one."""
    return perf.metric_get(agent, DATASTORE, request)


@task("datacenter.perf.metric.get", required=_HISTORICAL_GET_KEYS)
def datacenter_perf_metric_get(agent: VSphereAgent, request: Request) -> Reply:
    """Historical samples of the datacenter(s)."""
    return perf.metric_get(agent, DATACENTER, request)


@task("cluster.perf.metric.get", required=_HISTORICAL_GET_KEYS)
def cluster_perf_metric_get(agent: VSphereAgent, request: Request) -> Reply:
    """Historical samples of the cluster(s)."""
    return perf.metric_get(agent, CLUSTER, request)


@task("vm.cpu.usage.percent", required=("name",))
def vm_cpu_usage_percent(agent: VSphereAgent, request: Request) -> Reply:
    """CPU usage of the VM(s) in percent, from the latest real-time sample."""
    return perf.vm_cpu_usage_percent(agent, request)
