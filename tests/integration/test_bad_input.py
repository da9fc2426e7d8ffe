"""Malformed input gets an error reply naming the problem; nothing else breaks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import zmq

from vpoller.testing.stack import Stack

pytestmark = pytest.mark.integration

TIMEOUT_MS = 5000


@pytest.fixture
def req(stack: Stack) -> Iterator[zmq.Socket[bytes]]:
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(stack.frontend)
    yield sock
    sock.close(0)


def exchange(sock: zmq.Socket[bytes], *frames: bytes) -> dict[str, Any]:
    sock.send_multipart(list(frames))
    assert sock.poll(TIMEOUT_MS), "no reply"
    reply: dict[str, Any] = orjson.loads(sock.recv())
    return reply


def assert_still_serving(stack: Stack) -> None:
    reply = stack.request({"method": "about", "hostname": stack.agent}, timeout_ms=TIMEOUT_MS)
    assert isinstance(reply, dict) and reply["success"] == 0, reply


@pytest.mark.parametrize(
    ("frame", "words"),
    [
        (b"{not json", "not valid JSON"),
        (b"1", "must be a JSON object"),
        (b"[]", "must be a JSON object"),
        (b'"x"', "must be a JSON object"),
        (b"null", "must be a JSON object"),
        (b"\xff\xfe", "not valid JSON"),
        (b'{"hostname": "127.0.0.1"}', "'method'"),
        (b'{"method": "about"}', "'hostname'"),
        (b'{"method": 5, "hostname": "127.0.0.1"}', "'method' must be a string"),
        (b'{"method": "vm.discover", "hostname": "127.0.0.1", "properties": 7}', "properties"),
        (b'{"method": "vm.discover", "hostname": "127.0.0.1", "properties": [1]}', "properties"),
        (b'{"method": "vm.get", "hostname": "127.0.0.1", "name": {"a": 1}}', "'name'"),
        (b'{"method": "about", "hostname": "127.0.0.1", "max-sample": "many"}', "max-sample"),
        (b'{"method": "no.such.method", "hostname": "127.0.0.1"}', "Unknown method"),
        (b'{"method": "about", "hostname": "vc-unknown"}', "vc-unknown"),
        (b'{"method": "vm.get", "hostname": "127.0.0.1"}', "Missing required key"),
        (b"", "empty"),
        (b"[" * 5000 + b"]" * 5000, "not valid JSON"),
    ],
)
def test_malformed_request_gets_error_reply(
    stack: Stack, req: zmq.Socket[bytes], frame: bytes, words: str
) -> None:
    reply = exchange(req, frame)
    assert reply["success"] == 1
    assert words in reply["msg"]
    assert "Traceback" not in reply["msg"]
    assert_still_serving(stack)


def test_multi_frame_request_gets_error_reply(stack: Stack, req: zmq.Socket[bytes]) -> None:
    reply = exchange(req, b'{"method": "about", "hostname": "127.0.0.1"}', b"extra")
    assert reply["success"] == 1
    assert "one frame" in reply["msg"]
    assert_still_serving(stack)


def test_ten_megabyte_request_gets_error_reply(stack: Stack, req: zmq.Socket[bytes]) -> None:
    reply = exchange(req, b'{"method": "about", "hostname": "' + b"x" * 10_000_000 + b'"}')
    assert reply["success"] == 1
    assert "exceeds the limit" in reply["msg"]
    assert_still_serving(stack)


def test_dealer_without_delimiter_is_dropped(stack: Stack) -> None:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(stack.frontend)
    try:
        sock.send(b'{"method": "about", "hostname": "127.0.0.1"}')
        assert sock.poll(500) == 0  # nothing routable to answer
    finally:
        sock.close(0)
    assert_still_serving(stack)


def test_bogus_backend_peer_does_not_disturb_proxy(stack: Stack) -> None:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(stack.endpoints["backend"])
    try:
        for frames in (
            [b"junk"],
            [b"VPW1", b"READY", b"{bad"],
            [b"VPW1", b"REPLY", b"x", b"y"],
            [b"VPW1", b"NOPE"],
            [b"VPW1", b"READY", b'{"agents": 3}'],
        ):
            sock.send_multipart(frames)
    finally:
        sock.close(0)
    assert_still_serving(stack)
    assert stack.proxy_status()["result"]["workers_alive"] == 2


def test_management_rejects_unknown_command(stack: Stack) -> None:
    sock = zmq.Context.instance().socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(stack.endpoints["mgmt"])
    try:
        reply = exchange(sock, b'{"method": "reboot"}')
    finally:
        sock.close(0)
    assert reply["success"] == 1
    assert "status" in reply["msg"]
    assert stack.proxy_status()["success"] == 0
