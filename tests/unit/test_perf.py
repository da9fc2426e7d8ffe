"""Pure logic of vpoller.vsphere.perf and perfcounters: counter names, catalogue, splitting, limits.

pyVmomi data objects are built in memory; nothing talks to a server.
"""

from __future__ import annotations

import datetime
import re
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest
from pyVmomi import vim

from vpoller.vsphere import perf, perfcounters

_PM: Any = vim.PerformanceManager


def _counter(key: int, group: str, name: str, unit: str, rollup: str) -> Any:
    return _PM.CounterInfo(
        key=key,
        nameInfo=vim.ElementDescription(key=name, label=name, summary=f"{name} summary"),
        groupInfo=vim.ElementDescription(key=group, label=group, summary=group),
        unitInfo=vim.ElementDescription(key=unit, label=unit, summary=unit),
        rollupType=rollup,
        statsType="rate",
        level=1,
        perDeviceLevel=3,
    )


def _interval(key: int, name: str, period: int, enabled: bool = True) -> Any:
    return vim.HistoricalInterval(
        key=key, name=name, samplingPeriod=period, length=period * 288, level=1, enabled=enabled
    )


CATALOGUE = perfcounters.Catalogue.build(
    [
        _counter(2, "cpu", "usage", "percent", "average"),
        _counter(6, "cpu", "usagemhz", "megaHertz", "average"),
        _counter(9, "cpu", "capacity.entitlement", "megaHertz", "average"),
    ],
    [
        _interval(1, "Past day", 300),
        _interval(2, "Past week", 1800),
        _interval(3, "Old", 60, False),
    ],
)


# -- counter names ---------------------------------------------------------------


def test_counter_name_joins_group_name_unit_rollup() -> None:
    assert perfcounters.counter_name(_counter(6, "cpu", "usagemhz", "megaHertz", "average")) == (
        "cpu.usagemhz.megaHertz.average"
    )


def test_split_counter_name_returns_four_parts() -> None:
    assert perfcounters.split_counter_name("cpu.usagemhz.megaHertz.average") == (
        "cpu",
        "usagemhz",
        "megaHertz",
        "average",
    )


def test_split_counter_name_keeps_dots_in_name_part() -> None:
    assert perfcounters.split_counter_name("cpu.capacity.entitlement.megaHertz.average")[1] == (
        "capacity.entitlement"
    )


@pytest.mark.parametrize("text", ["cpu.usage.percent", "cpu..percent.average", "", "a.b.c."])
def test_split_counter_name_rejects_malformed_name(text: str) -> None:
    with pytest.raises(perfcounters.UnknownCounterError, match=re.escape("group.name.unit.rollup")):
        perfcounters.split_counter_name(text)


# -- catalogue -----------------------------------------------------------------------


def test_catalogue_counter_finds_by_name() -> None:
    assert CATALOGUE.counter("cpu.usagemhz.megaHertz.average").key == 6


def test_catalogue_counter_finds_name_with_dots() -> None:
    assert CATALOGUE.counter("cpu.capacity.entitlement.megaHertz.average").key == 9


def test_catalogue_unknown_counter_suggests_close_name() -> None:
    with pytest.raises(
        perfcounters.UnknownCounterError,
        match=re.escape("did you mean 'cpu.usage.percent.average'"),
    ):
        CATALOGUE.counter("cpu.usage.percent.averag")


def test_catalogue_unknown_counter_names_it() -> None:
    with pytest.raises(
        perfcounters.UnknownCounterError, match=re.escape("'disk.nothing.number.latest'")
    ):
        CATALOGUE.counter("disk.nothing.number.latest")


def test_catalogue_names_maps_key_to_name() -> None:
    assert CATALOGUE.names[2] == "cpu.usage.percent.average"


def test_catalogue_duplicate_name_keeps_lowest_key() -> None:
    cat = perfcounters.Catalogue.build(
        [
            _counter(8, "cpu", "usage", "percent", "average"),
            _counter(3, "cpu", "usage", "percent", "average"),
        ],
        [],
    )
    assert cat.counter("cpu.usage.percent.average").key == 3


def test_catalogue_interval_finds_by_name() -> None:
    assert CATALOGUE.interval("Past week").samplingPeriod == 1800


def test_catalogue_interval_accepts_other_case() -> None:
    assert CATALOGUE.interval("past DAY").key == 1


def test_catalogue_unknown_interval_lists_known_ones() -> None:
    with pytest.raises(
        perfcounters.UnknownIntervalError, match=r"'Past century'.*'Past day', 'Past week'"
    ):
        CATALOGUE.interval("Past century")


def test_catalogue_disabled_interval_is_error() -> None:
    with pytest.raises(perfcounters.UnknownIntervalError, match="'Old' is disabled"):
        CATALOGUE.interval("Old")


def test_catalogue_shortest_interval_skips_disabled() -> None:
    assert CATALOGUE.shortest_interval().name == "Past day"


def test_catalogue_shortest_interval_none_without_intervals() -> None:
    assert perfcounters.Catalogue.build([], []).shortest_interval() is None


# -- splitting -------------------------------------------------------------------------


def _sizes(batches: list[list[tuple[str, list[int]]]]) -> list[list[tuple[str, int]]]:
    return [[(key, len(metrics)) for key, metrics in batch] for batch in batches]


def test_split_queries_without_limit_is_one_query() -> None:
    items = [("a", [1, 2, 3]), ("b", [4, 5])]
    assert perf.split_queries(items, None) == [[("a", [1, 2, 3]), ("b", [4, 5])]]


def test_split_queries_packs_entities_up_to_limit() -> None:
    items = [("a", [1, 2]), ("b", [3, 4]), ("c", [5, 6])]
    assert _sizes(perf.split_queries(items, 4)) == [[("a", 2), ("b", 2)], [("c", 2)]]


def test_split_queries_splits_one_entity_over_queries() -> None:
    items = [("a", list(range(7)))]
    assert _sizes(perf.split_queries(items, 3)) == [[("a", 3)], [("a", 3)], [("a", 1)]]


def test_split_queries_no_query_exceeds_limit() -> None:
    items = [(str(i), list(range(i))) for i in range(1, 12)]
    batches = perf.split_queries(items, 5)
    assert all(sum(len(m) for _, m in batch) <= 5 for batch in batches)


def test_split_queries_fills_every_query_but_the_last() -> None:
    items = [(str(i), list(range(i))) for i in range(1, 12)]
    batches = perf.split_queries(items, 5)
    assert [sum(len(m) for _, m in batch) for batch in batches[:-1]] == [5] * (len(batches) - 1)


def test_split_queries_keeps_every_metric_in_order() -> None:
    items = [("a", [1, 2, 3]), ("b", [4]), ("c", [5, 6, 7, 8])]
    batches = perf.split_queries(items, 3)
    flat = [(key, m) for batch in batches for key, metrics in batch for m in metrics]
    assert flat == [(key, m) for key, metrics in items for m in metrics]


def test_split_queries_entity_at_most_once_per_query() -> None:
    items = [("a", [1, 2, 3, 4, 5]), ("b", [6, 7, 8])]
    for batch in perf.split_queries(items, 2):
        keys = [key for key, _ in batch]
        assert len(keys) == len(set(keys))


def test_split_queries_skips_entities_without_metrics() -> None:
    assert perf.split_queries([("a", []), ("b", [1])], 4) == [[("b", [1])]]


def test_split_queries_rejects_limit_below_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        perf.split_queries([("a", [1])], 0)


# -- limits ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "limit"),
    [("5.5", 64), ("6.0", 64), ("6.5", 256), ("6.7.3", 256), ("7.0.3.0", 256), ("8.0.2.0", 256)],
)
def test_limit_for_version_follows_vcenter_defaults(version: str, limit: int) -> None:
    assert perfcounters.limit_for_version(version) == limit


class _Setting:
    def __init__(self, value: Any = None, error: Exception | None = None) -> None:
        self.value = value
        self.error = error

    def QueryOptions(self, name: str) -> list[Any]:  # noqa: N802 -- pyVmomi API
        if self.error is not None:
            raise self.error
        return [vim.option.OptionValue(key=name, value=self.value)]


def _content(setting: Any, api_version: str = "6.5") -> Any:
    return SimpleNamespace(setting=setting, about=SimpleNamespace(apiVersion=api_version))


def test_max_query_metrics_reads_option() -> None:
    assert perfcounters._read_max_query_metrics(_content(_Setting("100"))) == 100


def test_max_query_metrics_option_minus_one_is_unlimited() -> None:
    assert perfcounters._read_max_query_metrics(_content(_Setting(-1))) is None


def test_max_query_metrics_unset_option_falls_back_to_version() -> None:
    setting = _Setting(error=vim.fault.InvalidName(name=perfcounters.MAX_QUERY_METRICS_OPTION))
    assert perfcounters._read_max_query_metrics(_content(setting, "6.0")) == 64


def test_max_query_metrics_without_option_manager_falls_back_to_version() -> None:
    assert perfcounters._read_max_query_metrics(_content(None, "7.0")) == 256


# -- sample parsing ----------------------------------------------------------------------


def test_collect_drops_missing_values() -> None:
    now = datetime.datetime.now(datetime.UTC)
    metric = _PM.EntityMetric(
        entity=vim.HostSystem("host-1"),
        sampleInfo=[
            _PM.SampleInfo(timestamp=now, interval=20),
            _PM.SampleInfo(timestamp=now + datetime.timedelta(seconds=20), interval=20),
        ],
        value=[_PM.IntSeries(id=_PM.MetricId(counterId=2, instance=""), value=[-1, 7])],
    )
    into: dict[tuple[int, str], list[Any]] = {}
    perf._collect(metric, into)
    assert [s.value for s in into[(2, "")]] == [7]


# -- the per-session cache ---------------------------------------------------------------


def test_cached_computes_once_under_concurrency() -> None:
    agent: Any = SimpleNamespace(cache={})
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        time.sleep(0.05)
        return 42

    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(perfcounters.cached(agent, "k", compute)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert (len(calls), results) == (1, [42] * 8)
