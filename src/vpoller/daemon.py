"""The daemon interface shared by the proxy and the worker manager.

A daemon serves in one background thread: ``start()`` returns once it is
serving (or raises what stopped it from starting), ``stop(timeout)`` asks it
to end and waits, ``join()`` waits. Signal handling stays in the entry points.
"""

from __future__ import annotations

import threading


class ThreadedDaemon:
    """Base class: ``_run`` sets ``_ready`` once serving, or ``_error`` and ``_ready``."""

    thread_name = "vpoller-daemon"

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> None:
        """Start serving in a background thread; raise what prevented it."""
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def stop(self, timeout: float | None = None) -> None:
        """Ask the daemon to stop and wait up to ``timeout`` seconds."""
        self._stop.set()
        self.join(timeout)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the daemon's thread to end."""
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        """True while the daemon's thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        raise NotImplementedError
