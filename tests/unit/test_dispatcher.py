"""The dispatcher's validation and its memory fast path (pure logic, fake agent)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from vpoller.errors import RequestError, VSphereError
from vpoller.request import Request, success
from vpoller.vsphere.taskregistry import Task
from vpoller.worker.dispatcher import Dispatcher


class FakeAgent:
    """Stands in for VSphereAgent.peek: returns or raises what the test sets."""

    def __init__(self, outcome: Any) -> None:
        self.outcome = outcome

    def peek(self, task: Task, request: Request) -> Any:
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


def _task(required: tuple[str, ...] = ()) -> Task:
    return Task("x.get", lambda agent, request: success([]), required)


def _request(**keys: Any) -> Request:
    return Request.from_object({"method": "x.get", "hostname": "vc", **keys})


def test_dispatcher_peek_encodes_fast_answer() -> None:
    dispatcher = Dispatcher({}, {})
    frame = dispatcher.peek(FakeAgent(success([{"a": 1}])), _request(), _task())  # type: ignore[arg-type]
    assert frame is not None
    assert orjson.loads(frame) == {"success": 0, "msg": success([])["msg"], "result": [{"a": 1}]}


def test_dispatcher_peek_none_means_queue_the_task() -> None:
    assert Dispatcher({}, {}).peek(FakeAgent(None), _request(), _task()) is None  # type: ignore[arg-type]


def test_dispatcher_peek_vpoller_error_becomes_error_reply() -> None:
    frame = Dispatcher({}, {}).peek(
        FakeAgent(VSphereError("boom")),
        _request(),
        _task(),  # type: ignore[arg-type]
    )
    assert frame is not None
    assert orjson.loads(frame) == {"success": 1, "msg": "boom"}


def test_dispatcher_peek_bug_falls_back_to_normal_path() -> None:
    frame = Dispatcher({}, {}).peek(
        FakeAgent(ZeroDivisionError()),
        _request(),
        _task(),  # type: ignore[arg-type]
    )
    assert frame is None


def test_dispatcher_validate_names_missing_keys() -> None:
    dispatcher = Dispatcher({"x.get": _task(("name", "properties"))}, {})
    with pytest.raises(RequestError, match="'name', 'properties'"):
        dispatcher.validate(b'{"method": "x.get", "hostname": "vc"}')


def test_dispatcher_validate_accepts_moref_for_name() -> None:
    dispatcher = Dispatcher({"x.get": _task(("name",))}, {})
    request, task = dispatcher.validate(b'{"method": "x.get", "hostname": "vc", "moref": "vm-1"}')
    assert request.moref == "vm-1"
    assert task.method == "x.get"


def test_dispatcher_validate_refuses_disabled_helper() -> None:
    dispatcher = Dispatcher({"x.get": _task()}, {})
    with pytest.raises(RequestError, match="not enabled"):
        dispatcher.validate(b'{"method": "x.get", "hostname": "vc", "helper": "my.helper"}')
