"""Shared fixtures: a vCenter simulator and a real vPoller stack on loopback.

``sim`` and ``stack`` are shared by a whole test session (tests must leave them
as they found them); ``make_stack`` builds a private stack for tests that kill
or restart processes. Everything is torn down even when a test fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pyVim.connect import Disconnect

from vpoller.testing.simulator import Simulator
from vpoller.testing.stack import Stack

SIM_VMS = 12


@pytest.fixture(scope="session")
def sim() -> Iterator[Simulator]:
    with Simulator(vms=SIM_VMS) as simulator:
        yield simulator


@pytest.fixture(scope="session")
def si(sim: Simulator) -> Iterator[Any]:
    """A plain pyVmomi session: the reference for what the simulator holds."""
    service = sim.connect()
    try:
        yield service
    finally:
        Disconnect(service)


@pytest.fixture(scope="session")
def stack(sim: Simulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    shared = Stack(sim, tmp_path_factory.mktemp("stack"), processes=2)
    try:
        shared.start()
        yield shared
    finally:
        shared.close()


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    """Build private stacks; each starts on call and is closed after the test."""
    made: list[Stack] = []

    def factory(sim: Simulator, start: bool = True, **kwargs: Any) -> Stack:
        private = Stack(sim, tmp_path / f"stack{len(made)}", **kwargs)
        made.append(private)
        if start:
            private.start()
        return private

    try:
        yield factory
    finally:
        for private in made:
            private.close()
