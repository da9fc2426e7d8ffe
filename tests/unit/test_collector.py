"""Property-collector helpers against an in-memory property collector.

The govmomi simulator ignores ``maxObjects`` and never pages, and it reports
invalid paths in ``missingSet`` rather than faulting like vCenter does, so
paging and the InvalidProperty retry are checked here with a fake collector.
"""

from __future__ import annotations

from typing import Any

import pytest
from pyVmomi import vim, vmodl

from vpoller.vsphere import collector

_PC: Any = vmodl.query.PropertyCollector


def _content(obj: Any, props: dict[str, Any]) -> Any:
    return _PC.ObjectContent(
        obj=obj, propSet=[vmodl.DynamicProperty(name=k, val=v) for k, v in props.items()]
    )


class FakeStub:
    """Answers managed-method calls of in-memory morefs (DestroyView) and records them."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def InvokeMethod(self, mo: Any, info: Any, args: Any) -> None:  # noqa: N802 -- pyVmomi API
        self.calls.append(f"{mo._moId}.{info.name}")


class FakeCollector:
    """Serves ``pages`` of ObjectContent; faults on paths in ``invalid`` or with ``error``."""

    def __init__(
        self,
        pages: list[list[Any]],
        invalid: frozenset[str] = frozenset(),
        error: Exception | None = None,
    ) -> None:
        self.pages = pages
        self.invalid = invalid
        self.error = error
        self.specs: list[Any] = []
        self.continued: list[str] = []

    def RetrievePropertiesEx(self, specSet: Any, options: Any) -> Any:  # noqa: N802, N803
        self.specs.append(specSet[0])
        if self.error is not None:
            raise self.error
        for path in specSet[0].propSet[0].pathSet:
            if path in self.invalid:
                raise vmodl.query.InvalidProperty(name=path)
        return self._page(0)

    def ContinueRetrievePropertiesEx(self, token: str) -> Any:  # noqa: N802
        self.continued.append(token)
        return self._page(int(token))

    def _page(self, index: int) -> Any:
        more = index + 1 < len(self.pages)
        return _PC.RetrieveResult(token=str(index + 1) if more else None, objects=self.pages[index])


class FakeContent:
    def __init__(self, pc: FakeCollector) -> None:
        self.propertyCollector = pc
        self.rootFolder = vim.Folder("group-d1")
        self.stub = FakeStub()
        self.viewManager = self

    def CreateContainerView(self, container: Any, type: Any, recursive: bool) -> Any:  # noqa: N802
        return vim.view.ContainerView("session[1]view-1", self.stub)


def _vms(*names: str) -> list[Any]:
    return [_content(vim.VirtualMachine(f"vm-{i}"), {"name": n}) for i, n in enumerate(names)]


def test_retrieve_all_follows_continuation_tokens() -> None:
    pc = FakeCollector([_vms("a", "b"), _vms("c"), _vms("d")])
    found = collector.retrieve_all(FakeContent(pc), vim.VirtualMachine, ["name"])
    assert [o.props["name"] for o in found] == ["a", "b", "c", "d"]
    assert pc.continued == ["1", "2"]


def test_retrieve_all_destroys_view_after_query() -> None:
    content = FakeContent(FakeCollector([_vms("a")]))
    collector.retrieve_all(content, vim.VirtualMachine, ["name"])
    assert content.stub.calls == ["session[1]view-1.Destroy"]


def test_retrieve_all_destroys_view_when_query_fails() -> None:
    content = FakeContent(FakeCollector([], error=vim.fault.NotAuthenticated()))
    with pytest.raises(vim.fault.NotAuthenticated):
        collector.retrieve_all(content, vim.VirtualMachine, ["name"])
    assert content.stub.calls == ["session[1]view-1.Destroy"]


def test_retrieve_all_drops_path_the_server_calls_invalid() -> None:
    pc = FakeCollector([_vms("a")], invalid=frozenset({"bogus.path"}))
    found = collector.retrieve_all(FakeContent(pc), vim.VirtualMachine, ["name", "bogus.path"])
    assert found[0].props == {"name": "a"}
    assert list(pc.specs[-1].propSet[0].pathSet) == ["name"]


def test_retrieve_reads_all_refs_in_one_query() -> None:
    pc = FakeCollector([_vms("a", "b")])
    refs = [vim.VirtualMachine("vm-0"), vim.VirtualMachine("vm-1")]
    collector.retrieve(FakeContent(pc), refs, ["name"])
    assert len(pc.specs) == 1
    assert [spec.obj._moId for spec in pc.specs[0].objectSet] == ["vm-0", "vm-1"]


def test_find_maps_each_value_to_its_first_match() -> None:
    pc = FakeCollector([_vms("a", "b", "a")])
    found = collector.find(FakeContent(pc), vim.VirtualMachine, ["name"], ["a", "z"], ["name"])
    assert {k: v.ref._moId for k, v in found.items()} == {"a": "vm-0"}
