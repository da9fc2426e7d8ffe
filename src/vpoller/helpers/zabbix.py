"""The ``vpoller.helpers.zabbix`` helper: results as Zabbix low-level discovery or bare values.

What a reply becomes, checked in this order:

* A failed reply (``success`` not 0): its ``msg``.
* ``vm.process.get``: the number of processes whose ``cmdLine`` contains the
  request's ``key`` (every process when there is no ``key``), as text.
* A single-object method (``about``, ``event.latest``, ``<type>.get``,
  ``vm.disk.get``, ``vm.cpu.usage.percent``, ``vsan.health.get``,
  ``<type>.perf.metric.get``) whose result holds at most one object: the bare
  value of one property of that object -- the first requested property when
  the request has ``properties``, else ``value`` for performance samples, else
  the first key that is not ``name`` (``name`` itself when it is the only one).
  Strings are bare, ``None`` (or an empty result) is the empty string, numbers
  and booleans are JSON scalars, objects and lists are JSON text.
* Any other list result (``*.discover``, relationship methods such as
  ``host.vm.get``, ``*.alarm.get``, ``vm.snapshot.get``, ``session.get``,
  ``perf.interval.info``, ``vm.guest.net.get``, and batched gets or several
  perf samples): Zabbix low-level discovery JSON text,
  ``{"data": [{"{#VSPHERE.VM.NAME}": "vm01", ...}, ...]}``.
* Any other result (a bare object or scalar from a third-party task): the bare
  value as above.

Macro naming: ``{#VSPHERE.<TYPE>.<PROPERTY>}``. TYPE is the vSphere object type
the method starts with (``datacenter``, ``cluster``, ``resource.pool``, ``host``,
``vm``, ``datastore``, ``net``), upper-cased with its dots kept. That is the
method without its last part for every ``<type>.discover`` (``vm.discover`` ->
``VM``, ``resource.pool.discover`` -> ``RESOURCE.POOL``), and it gives
``vm.disk.discover`` -> ``{#VSPHERE.VM.DISKPATH}`` as SPEC.md requires; the same
rule applies to relationship methods (``host.vm.get`` -> ``{#VSPHERE.HOST.NAME}``,
``vm.snapshot.get`` -> ``{#VSPHERE.VM.CREATETIME}``). A method that does not
start with an object type uses the method without its last part
(``session.get`` -> ``SESSION``, ``perf.interval.info`` -> ``PERF.INTERVAL``).
PROPERTY is the result key upper-cased with its dots kept
(``runtime.powerState`` -> ``RUNTIME.POWERSTATE``). Zabbix allows only
``A-Z``, ``0-9``, ``_`` and ``.`` in macro names, so any other character in
TYPE or PROPERTY becomes ``_``.

Macro values: strings as they are, ``None`` as ``""``, numbers and booleans as
JSON scalars, objects and lists as JSON text (a macro holds a scalar). An item
of the result that is not an object becomes ``{#VSPHERE.<TYPE>.VALUE}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from vpoller.helpers._text import json_text, value_text
from vpoller.request import Reply, Request

# "resource.pool" is one type of two parts, so it is matched as a whole.
OBJECT_TYPES: Final = ("resource.pool", "datacenter", "cluster", "datastore", "host", "vm", "net")

_SINGLE_OBJECT_METHODS: Final = frozenset(
    {"about", "event.latest", "vm.disk.get", "vm.cpu.usage.percent", "vsan.health.get"}
    | {f"{object_type}.get" for object_type in OBJECT_TYPES}
)
_PERF_GET_SUFFIX: Final = ".perf.metric.get"
_SAMPLE_METHODS: Final = frozenset({"vm.cpu.usage.percent"})
_MACRO_UNSAFE: Final = re.compile(r"[^A-Z0-9_.]")


def macro_type(method: str) -> str:
    """The TYPE part of the discovery macros of ``method`` (see the module docstring)."""
    for object_type in OBJECT_TYPES:
        if method == object_type or method.startswith(object_type + "."):
            return _macro_part(object_type)
    return _macro_part(method.rpartition(".")[0] or method)


def macro_name(method: str, prop: str) -> str:
    """The discovery macro of property ``prop`` in a result of ``method``."""
    return "{#VSPHERE." + macro_type(method) + "." + _macro_part(prop) + "}"


def _macro_part(text: str) -> str:
    return _MACRO_UNSAFE.sub("_", text.upper())


def _is_single_object_method(method: str) -> bool:
    return method in _SINGLE_OBJECT_METHODS or method.endswith(_PERF_GET_SUFFIX)


def discovery(method: str, result: list[Any]) -> str:
    """``result`` as Zabbix low-level discovery JSON text."""
    prefix = "{#VSPHERE." + macro_type(method) + "."
    data = []
    for item in result:
        row = item if isinstance(item, Mapping) else {"value": item}
        macros = {prefix + _macro_part(str(key)) + "}": _macro_value(v) for key, v in row.items()}
        data.append(macros)
    return json_text({"data": data})


def _macro_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, Mapping | list):
        return json_text(value)
    return value


def single_value(request: Request, obj: Any) -> str:
    """The bare value of the property of ``obj`` a Zabbix item asked for, as text."""
    if not isinstance(obj, Mapping):
        return value_text(obj)
    if request.properties:
        return value_text(obj.get(request.properties[0]))
    is_sample = request.method.endswith(_PERF_GET_SUFFIX) or request.method in _SAMPLE_METHODS
    if is_sample and "value" in obj:
        return value_text(obj["value"])
    for key, value in obj.items():
        if key != "name":
            return value_text(value)
    return value_text(obj.get("name"))


def process_count(request: Request, result: Any) -> str:
    """How many processes in ``result`` have ``request.key`` in their command line."""
    processes = result if isinstance(result, list) else [result]
    if request.key is None:
        return str(len(processes))
    count = 0
    for process in processes:
        cmdline = process.get("cmdLine") if isinstance(process, Mapping) else None
        if isinstance(cmdline, str) and request.key in cmdline:
            count += 1
    return str(count)


def format(request: Request, reply: Reply) -> str:
    """The reply as Zabbix expects it: discovery JSON, one bare value, or the error."""
    if reply.get("success") != 0:
        return str(reply.get("msg", ""))
    result = reply.get("result")
    method = request.method
    if method == "vm.process.get":
        return process_count(request, result if result is not None else [])
    if isinstance(result, list):
        if _is_single_object_method(method) and len(result) <= 1:
            return single_value(request, result[0]) if result else ""
        return discovery(method, result)
    return single_value(request, result)
