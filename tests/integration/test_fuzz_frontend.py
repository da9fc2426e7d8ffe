"""Property-based fuzzing of the proxy frontend: hostile frames never break serving.

Thousands of malformed messages (random bytes, random JSON, wrong types in
every request key, deep nesting, extra frames) go to the real proxy, each
followed by a check that a valid request still succeeds now and then.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vpoller.testing.load import send_many
from vpoller.testing.stack import Stack

pytestmark = pytest.mark.integration

KEYS = [
    "method",
    "hostname",
    "name",
    "properties",
    "key",
    "username",
    "password",
    "counter-name",
    "instance",
    "max-sample",
    "perf-interval",
    "helper",
    "uuid",
    "moref",
    "timeout",
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
wrong_typed_requests = st.fixed_dictionaries(
    {
        "method": st.sampled_from(["about", "vm.get", "vm.discover", "host.get", "x"])
        | json_values,
        "hostname": st.sampled_from(["127.0.0.1", "nope"]) | json_values,
    },
    optional={key: json_values for key in KEYS[2:]},
)
hostile_frames = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    wrong_typed_requests.map(lambda v: json.dumps(v).encode()),
    st.integers(1, 2000).map(lambda depth: b"[" * depth + b"]" * depth),
    st.integers(1, 2000).map(lambda depth: b'{"a":' * depth + b"1" + b"}" * depth),
)


@pytest.fixture(scope="module")
def frontend(stack: Stack) -> Iterator[zmq.Socket[bytes]]:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(stack.frontend)
    yield sock
    sock.close(0)


def exchange(sock: zmq.Socket[bytes], frames: list[bytes]) -> dict[str, Any] | None:
    sock.send_multipart([b"", *frames])
    if not sock.poll(10_000):
        return None
    reply = sock.recv_multipart()
    value: dict[str, Any] = orjson.loads(reply[-1])
    return value


VALID_EVERY = 10
_sent = [0]


@settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))
@given(frame=hostile_frames, extra=st.lists(st.binary(max_size=20), max_size=2))
def test_frontend_answers_every_hostile_message(
    stack: Stack, frontend: zmq.Socket[bytes], frame: bytes, extra: list[bytes]
) -> None:
    reply = exchange(frontend, [frame, *extra])
    assert reply is not None, "no reply to a hostile message"
    assert reply["success"] in (0, 1)
    assert isinstance(reply["msg"], str) and reply["msg"]
    if extra:
        assert reply["success"] == 1
    _sent[0] += 1
    if _sent[0] % VALID_EVERY == 0:  # interleave valid requests: they must keep succeeding
        valid = exchange(
            frontend, [b'{"method": "about", "hostname": "%s"}' % stack.agent.encode()]
        )
        assert valid is not None and valid["success"] == 0, valid


def test_stack_serves_valid_requests_after_fuzzing(stack: Stack) -> None:
    replies = send_many(
        stack.frontend, [{"method": "about", "hostname": stack.agent}] * 50, timeout_s=20
    )
    assert all(isinstance(r, dict) and r["success"] == 0 for r in replies)
    status = stack.proxy_status()["result"]
    assert status["workers_alive"] == 2
    assert status["requests"]["inflight"] == 0
