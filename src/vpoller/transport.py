"""ZeroMQ socket set-up shared by every component: limits, linger and CURVE.

CURVE is opt-in by configuration. A server socket (proxy frontend, backend,
management endpoints) loads its key pair and has ZAP check clients against a
folder of allowed public keys; a client socket loads its key pair and the
server's public key.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils import z85
from zmq.utils.monitor import recv_monitor_message

from vpoller.config import CurveSettings
from vpoller.errors import TransportError

logger = logging.getLogger(__name__)

# Frames larger than this are refused by ZeroMQ itself (the peer is dropped);
# below it, components answer an oversized request with an error reply.
SOCKET_MAX_BYTES_FACTOR = 64
# A refused peer's warnings are repeated at most this often (it retries constantly).
REFUSAL_LOG_INTERVAL_S = 10.0
HANDSHAKE_FAILURES = (
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_MONITOR_STOPPED
)
MONITOR_POLL_MS = 100


def load_keypair(path: str) -> tuple[bytes, bytes]:
    """Read a zcert key file (public and, when present, secret key)."""
    try:
        public, secret = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise TransportError(f"cannot load CURVE key file {path}: {exc}") from None
    if secret is None:
        raise TransportError(f"CURVE key file {path} holds no secret key")
    return public, secret


def load_public_key(path: str) -> bytes:
    """Read the public key of a zcert key file."""
    try:
        public, _ = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise TransportError(f"cannot load CURVE public key {path}: {exc}") from None
    return public


def make_server_socket(
    ctx: zmq.Context[zmq.Socket[bytes]],
    kind: int,
    endpoint: str,
    curve: CurveSettings,
    max_message_bytes: int,
    *,
    guard: CurveGuard | None = None,
    label: str = "",
) -> zmq.Socket[bytes]:
    """Create and bind a socket that others connect to.

    With ``guard`` (from :func:`start_authenticator`), failed CURVE handshakes
    on the socket are logged under ``label`` (e.g. ``frontend``).
    """
    sock = ctx.socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.MAXMSGSIZE, max_message_bytes * SOCKET_MAX_BYTES_FACTOR)
    if curve.enabled:
        if not curve.secret_key:
            raise TransportError("CURVE is enabled but [curve] secret_key is not set")
        public, secret = load_keypair(curve.secret_key)
        sock.curve_secretkey = secret
        sock.curve_publickey = public
        sock.curve_server = True
        if guard is not None:
            guard.watch(sock, label or endpoint)
    try:
        sock.bind(endpoint)
    except zmq.ZMQError as exc:
        sock.close(0)
        raise TransportError(f"cannot bind {endpoint}: {exc}") from None
    return sock


def make_client_socket(
    ctx: zmq.Context[zmq.Socket[bytes]],
    kind: int,
    endpoint: str,
    curve: CurveSettings,
    max_message_bytes: int,
) -> zmq.Socket[bytes]:
    """Create and connect a socket to a server endpoint."""
    sock = ctx.socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.MAXMSGSIZE, max_message_bytes * SOCKET_MAX_BYTES_FACTOR)
    if curve.enabled:
        if not curve.server_key:
            raise TransportError("CURVE is enabled but the server's public key is not set")
        # Without a key pair of our own, an ephemeral one still encrypts; a
        # server that checks client keys (ZAP) refuses it.
        public, secret = load_keypair(curve.secret_key) if curve.secret_key else zmq.curve_keypair()
        sock.curve_secretkey = secret
        sock.curve_publickey = public
        sock.curve_serverkey = load_public_key(curve.server_key)
    try:
        sock.connect(endpoint)
    except zmq.ZMQError as exc:
        sock.close(0)
        raise TransportError(f"cannot connect to {endpoint}: {exc}") from None
    return sock


class CurveGuard(ThreadAuthenticator):
    """ZAP for CURVE plus a watch on handshakes, logging every refused peer.

    A client is allowed when its public key is in the ``authorized_keys``
    folder or is the component's own public key (the one its management
    commands use on the same host). The folder is read again when it changed,
    so adding a key needs no restart. pyzmq logs denials at debug level only;
    this class logs them as warnings, with the peer's address. Peers that
    fail the CURVE handshake itself (no CURVE, wrong server key) never reach
    ZAP; a socket monitor reports them, also as warnings.
    """

    def __init__(
        self, ctx: zmq.Context[zmq.Socket[bytes]], folder: str, own_public: bytes | None
    ) -> None:
        """``own_public``: the component's own public key (Z85), always allowed."""
        super().__init__(ctx, log=logging.getLogger("vpoller.auth.zap"))
        self.folder = folder
        self.own_public = own_public
        self._folder_stamp = _folder_stamp(folder)
        self._address = ""
        self._watch_lock = threading.Lock()
        self._watched: list[tuple[str, str]] = []  # (monitor endpoint, label)
        self._monitor_stop = threading.Event()
        self._monitor: threading.Thread | None = None
        self._reports = _RefusalLog()

    def start(self) -> None:
        super().start()
        self.configure_curve(domain="*", location=self.folder)
        self._monitor = threading.Thread(
            target=self._watch_handshakes, name="vpoller-curve-monitor", daemon=True
        )
        self._monitor.start()

    def stop(self) -> None:
        self._monitor_stop.set()
        if self._monitor is not None:
            self._monitor.join(5.0)
            self._monitor = None
        super().stop()

    def watch(self, sock: zmq.Socket[bytes], label: str) -> None:
        """Log failed CURVE handshakes on ``sock`` (call from the socket's thread)."""
        endpoint = f"inproc://vpoller-curve-monitor-{id(sock)}"
        sock.monitor(endpoint, HANDSHAKE_FAILURES)
        with self._watch_lock:
            self._watched.append((endpoint, label))

    # ZAP runs on the authenticator's one thread, so keeping the address of
    # the request being handled in an attribute is safe.
    async def handle_zap_message(self, msg: list[bytes]) -> None:
        self._address = msg[3].decode("utf-8", "replace") if len(msg) > 3 else "?"
        await super().handle_zap_message(msg)

    async def _authenticate_curve(self, domain: str, client_key: bytes) -> tuple[bool, bytes]:
        if self.own_public is not None and z85.encode(client_key) == self.own_public:
            return True, b"OK"
        allowed, reason = await super()._authenticate_curve(domain, client_key)
        stamp = _folder_stamp(self.folder)
        if not allowed and stamp != self._folder_stamp:
            self._folder_stamp = stamp
            self.configure_curve(domain="*", location=self.folder)
            allowed, reason = await super()._authenticate_curve(domain, client_key)
        if not allowed:
            key = z85.encode(client_key).decode("ascii")
            self._reports.warn(
                (key, self._address),
                "refused CURVE client %s from %s: key not in authorized_keys folder %s",
                key,
                self._address,
                self.folder,
            )
        return allowed, reason

    def _watch_handshakes(self) -> None:
        ctx = self.context
        poller = zmq.Poller()
        monitors: dict[zmq.Socket[bytes], str] = {}
        connected = 0
        try:
            while not self._monitor_stop.is_set():
                with self._watch_lock:
                    pending = self._watched[connected:]
                    connected = len(self._watched)
                for endpoint, label in pending:
                    mon: zmq.Socket[bytes] = ctx.socket(zmq.PAIR)
                    mon.setsockopt(zmq.LINGER, 0)
                    mon.connect(endpoint)
                    poller.register(mon, zmq.POLLIN)
                    monitors[mon] = label
                for mon, _ in poller.poll(MONITOR_POLL_MS):
                    label = monitors[mon]
                    try:
                        event = recv_monitor_message(mon, zmq.NOBLOCK)
                    except zmq.Again:
                        continue
                    if event["event"] == zmq.EVENT_MONITOR_STOPPED:
                        poller.unregister(mon)
                        continue
                    where = event["endpoint"]
                    reason = _handshake_reason(event["event"], event["value"])
                    self._reports.warn(
                        (label, reason),
                        "refused a peer on %s (%s): CURVE handshake failed: %s",
                        label,
                        where.decode("utf-8", "replace") if isinstance(where, bytes) else where,
                        reason,
                    )
        finally:
            for mon in monitors:
                mon.close(0)


class _RefusalLog:
    """Warnings about refused peers, at most one per kind per interval.

    A refused client reconnects every 100 ms or so; without this its refusals
    would flood the log. Repeats within the interval are counted and the
    count is reported with the next warning of the same kind.
    """

    def __init__(self, interval_s: float = REFUSAL_LOG_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._last: dict[tuple[str, str], float] = {}
        self._suppressed: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def warn(self, kind: tuple[str, str], msg: str, *args: object) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < self.interval_s:
                self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
                return
            self._last[kind] = now
            repeats = self._suppressed.pop(kind, 0)
        if repeats:
            msg += " (%d more refusals like this one since the last report)"
            args = (*args, repeats)
        logger.warning(msg, *args)


def _handshake_reason(event: int, value: int) -> str:
    if event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
        if value == zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
            return "the peer does not use CURVE"
        if value == zmq.PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
            return "cryptographic error (the peer uses another server key?)"
        return f"protocol error {value:#x}"
    return "no detail (connection dropped during the handshake)"


def _folder_stamp(folder: str) -> tuple[tuple[str, float], ...]:
    try:
        return tuple(sorted((f.name, f.stat().st_mtime) for f in Path(folder).iterdir()))
    except OSError:
        return ()


def start_authenticator(
    ctx: zmq.Context[zmq.Socket[bytes]], curve: CurveSettings
) -> CurveGuard | None:
    """Start ZAP for CURVE clients whose public keys are in the allowed folder."""
    if not curve.enabled:
        return None
    folder = curve.authorized_keys
    if not folder or not Path(folder).is_dir():
        raise TransportError(f"CURVE is enabled but authorized_keys folder {folder!r} is missing")
    own = load_public_key(curve.secret_key) if curve.secret_key else None
    guard = CurveGuard(ctx, folder, own)
    guard.start()
    logger.info("CURVE authentication on; allowed keys from %s", folder)
    return guard
