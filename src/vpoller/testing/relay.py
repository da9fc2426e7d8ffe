"""A loopback TCP relay that tests can freeze, to play a hung or dead vCenter.

While frozen it accepts connections and reads nothing: calls through it hang
exactly like calls to a vCenter that stopped answering.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading

logger = logging.getLogger(__name__)

CHUNK_BYTES = 65536
POLL_S = 0.05


class Relay:
    """Forward ``127.0.0.1:<port>`` to ``target``; ``freeze()`` stalls all traffic."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._frozen = threading.Event()
        self._stop = threading.Event()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="relay", daemon=True)
        self._thread.start()

    def freeze(self) -> None:
        self._frozen.set()

    def thaw(self) -> None:
        """Resume forwarding; connections that hung while frozen are dropped."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for a, b in pairs:
            a.close()
            b.close()
        self._frozen.clear()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()
        with self._lock:
            for a, b in self._pairs:
                a.close()
                b.close()
            self._pairs = []

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self._listener, selectors.EVENT_READ)
        try:
            while not self._stop.is_set():
                self._step(sel)
        finally:
            sel.close()

    def _step(self, sel: selectors.BaseSelector) -> None:
        with self._lock:
            pairs = list(self._pairs)
        for a, b in pairs:
            for sock in (a, b):
                with contextlib.suppress(KeyError, ValueError):
                    sel.unregister(sock)
        if not self._frozen.is_set():
            for a, b in pairs:
                if a.fileno() >= 0 and b.fileno() >= 0:
                    sel.register(a, selectors.EVENT_READ, b)
                    sel.register(b, selectors.EVENT_READ, a)
        for key, _ in sel.select(POLL_S):
            if key.fileobj is self._listener:
                self._accept()
                continue
            src = key.fileobj
            dst = key.data
            assert isinstance(src, socket.socket) and isinstance(dst, socket.socket)
            try:
                data = src.recv(CHUNK_BYTES)
                if data:
                    dst.sendall(data)
                    continue
            except OSError:
                pass
            self._drop(src)

    def _accept(self) -> None:
        client, _ = self._listener.accept()
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        with self._lock:
            self._pairs.append((client, upstream))

    def _drop(self, sock: socket.socket) -> None:
        with self._lock:
            for pair in self._pairs:
                if sock in pair:
                    self._pairs.remove(pair)
                    pair[0].close()
                    pair[1].close()
                    return
