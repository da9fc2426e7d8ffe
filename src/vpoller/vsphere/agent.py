"""VSphereAgent: one long-lived, self-healing pyVmomi session per registered host.

The worker keeps one agent per registry entry and calls :meth:`VSphereAgent.execute`
from many threads. The session is opened lazily, shared by those threads
through a SOAP connection pool as large as the agent's concurrency, and
re-established when vCenter forgets it (restart, session timeout, a terminated
session) or the connection breaks: the failed task is then retried once on the
new session. pyVmomi faults leave as :class:`VSphereError` with a one-line
message, never a traceback.
"""

from __future__ import annotations

import http.client
import logging
import ssl
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from pyVmomi import SoapAdapter, VmomiSupport, vim, vmodl

from vpoller.constants import DEFAULT_AGENT_CONCURRENCY, VSPHERE_CONNECT_TIMEOUT_S
from vpoller.errors import VPollerError, VSphereError

if TYPE_CHECKING:
    from vpoller.registry import AgentRecord
    from vpoller.request import Reply, Request
    from vpoller.vsphere.taskregistry import Task

log = logging.getLogger(__name__)

# Socket timeout of one SOAP call once connected. Large queries on a big
# vCenter take many seconds; the worker's request deadline (capped at
# REQUEST_DEADLINE_CAP_MS) is the real limit and invalidates stuck sessions.
VSPHERE_CALL_TIMEOUT_S = 120.0
# Idle pooled connections older than this are closed rather than reused:
# load balancers in front of vCenter drop idle keep-alive connections, and a
# fresh TLS handshake is cheaper than a call failing on a dead socket.
VSPHERE_POOL_IDLE_TIMEOUT_S = 60
# After a failed connect, callers within this window get the same error at
# once instead of each waiting for its own connect timeout.
VSPHERE_CONNECT_HOLDOFF_S = 2.0
# pyVmomi's SOAP layer and VmomiSupport ship no type hints; bind the few
# entry points we call as Any once instead of silencing every call site.
_SoapStubAdapter: Any = SoapAdapter.SoapStubAdapter
_ServiceInstance: Any = vim.ServiceInstance
_get_service_versions: Any = VmomiSupport.GetServiceVersions

# API version used when the server publishes no vimServiceVersions.xml.
_FALLBACK_VERSION = "vim.version.version9"

# Exceptions meaning the HTTP connection broke: the session may be gone too.
# (TimeoutError is an OSError as well; callers test for it first.)
_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # reset, refused, aborted, broken pipe, TLS errors, unreachable
    http.client.HTTPException,  # RemoteDisconnected, BadStatusLine, ...
)

_LOGOUT_ERRORS: tuple[type[BaseException], ...] = (vmodl.MethodFault, *_CONNECTION_ERRORS)

# Pooled SOAP connections beyond the agent's concurrency: one for the inventory
# index's long-polling WaitForUpdatesEx (vpoller.vsphere.inventory).
SESSION_BACKGROUND_CALLS = 1

R = TypeVar("R")


class _SessionLostError(Exception):
    """Internal: the session broke during a task that may be retried once."""


@dataclass
class _Session:
    """One logged-in pyVmomi session and what was learned through it."""

    si: Any
    stub: Any
    content: Any
    started: float = field(default_factory=time.monotonic)
    cache: dict[str, Any] = field(default_factory=dict)
    # Objects with close() (and status()) living as long as the session.
    resources: dict[str, Any] = field(default_factory=dict)


class VSphereAgent:
    """A registered vSphere host (vCenter or ESXi) and its shared session."""

    def __init__(
        self,
        record: AgentRecord,
        *,
        connect_timeout_s: float = VSPHERE_CONNECT_TIMEOUT_S,
        concurrency: int = DEFAULT_AGENT_CONCURRENCY,
        mirror: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        if concurrency < 1:
            raise VSphereError(f"agent concurrency must be at least 1, got {concurrency}")
        self.record = record
        self.connect_timeout_s = connect_timeout_s
        self.concurrency = concurrency
        # [mirror] properties per object type, for the session's inventory index.
        self.mirror: dict[str, tuple[str, ...]] = dict(mirror or {})
        self._slots = threading.BoundedSemaphore(concurrency)
        self._connect_lock = threading.Lock()  # one connect at a time
        self._lock = threading.Lock()  # guards the fields below; never held over I/O
        self._session: _Session | None = None
        self._sessions_opened = 0
        self._last_error: str | None = None
        self._failed_at = 0.0

    def __repr__(self) -> str:
        return f"VSphereAgent({self.record.host}:{self.record.port})"

    # -- for tasks ---------------------------------------------------------

    @property
    def host(self) -> str:
        """The agent's name as registered (what clients send as ``hostname``)."""
        return self.record.host

    @property
    def si(self) -> Any:
        """The live ``vim.ServiceInstance``, connecting first when needed."""
        return self._current().si

    @property
    def content(self) -> Any:
        """The live session's ``vim.ServiceInstanceContent``."""
        return self._current().content

    @property
    def cache(self) -> dict[str, Any]:
        """A dict for values learned through the session; emptied on reconnect."""
        return self._current().cache

    def resource(self, key: str, factory: Callable[[Any], R], kind: type[R]) -> R:
        """The session's resource ``key``, made by ``factory(content)`` on first use.

        The resource (an object of ``kind`` with ``close()``, optionally
        ``status()``) is closed when its session ends: invalidated, lost,
        replaced or closed. ``factory`` runs under the agent's lock, so it
        must not block (start a thread for I/O).
        """
        session = self._current()
        found = session.resources.get(key)
        if isinstance(found, kind):
            return found
        with self._lock:
            found = session.resources.get(key)
            if not isinstance(found, kind):
                found = session.resources[key] = factory(session.content)
            retired = self._session is not session
        if retired:
            _close_resources(session)
        return found

    @property
    def open_content(self) -> Any | None:
        """The service content of the open session, or None; never connects."""
        session = self._session
        return None if session is None else session.content

    def existing_resource(self, key: str, kind: type[R]) -> R | None:
        """The current session's resource ``key`` if it exists; never connects."""
        session = self._session
        if session is None:
            return None
        found = session.resources.get(key)
        return found if isinstance(found, kind) else None

    # -- for the worker ----------------------------------------------------

    def peek(self, task: Task, request: Request) -> Reply | None:
        """The task's answer from memory, or None; never blocks, never connects.

        Only with an open session: everything a peek reads (service content,
        inventory mirror) belongs to it.
        """
        if task.peek is None or self._session is None:
            return None
        try:
            return task.peek(self, request)
        except vmodl.MethodFault as exc:
            raise VSphereError(_describe(exc)) from exc

    def execute(self, task: Task, request: Request) -> Reply:
        """Run ``task`` for ``request`` on this agent's session.

        Waits for one of ``concurrency`` slots. When the session turns out to
        be lost, it is re-established and the task retried once (a task that
        is not idempotent only when the server surely did not run it).
        """
        with self._slots:
            try:
                return self._attempt(task, request, retry=True)
            except _SessionLostError:
                return self._attempt(task, request, retry=False)

    def _attempt(self, task: Task, request: Request, *, retry: bool) -> Reply:
        """Run the task once; raise :class:`_SessionLostError` when a retry is allowed and due."""
        session = self._current()
        try:
            return self._run(task, request)
        except vim.fault.NotAuthenticated as exc:
            self._note_lost(session, exc)
            if retry:
                raise _SessionLostError from exc
            raise VSphereError(
                f"{self._where()} rejected a fresh session: {_describe(exc)}"
            ) from exc
        except vmodl.MethodFault as exc:
            raise VSphereError(_describe(exc)) from exc
        except TimeoutError as exc:
            # pyVmomi already closed the timed-out connection; the session
            # itself is likely fine (the worker invalidates it when not).
            raise self._timeout_error(exc) from exc
        except _CONNECTION_ERRORS as exc:
            self._note_lost(session, exc, logout=True)
            if retry and task.idempotent:
                raise _SessionLostError from exc
            suffix = "" if task.idempotent else "; not retried as it may have run"
            raise VSphereError(
                f"Connection to {self._where()} failed during {task.method}: "
                f"{_describe(exc)}{suffix}"
            ) from exc

    def invalidate(self) -> None:
        """Discard the current session; the next call opens a new one.

        The old session is logged out in the background, as a call that
        outlived its deadline may still hold one of its connections.
        """
        with self._lock:
            old, self._session = self._session, None
        if old is not None:
            log.info("%s: session invalidated", self)
            _close_resources(old)
            _logout_in_background(old, self.host)

    def close(self) -> None:
        """Log out and drop the session's connections, quietly."""
        with self._lock:
            old, self._session = self._session, None
        if old is not None:
            _close_resources(old)
            _logout_quietly(old)

    def status(self) -> dict[str, Any]:
        """The agent's state for the worker's management ``status`` answer."""
        with self._lock:
            session = self._session
            return {
                "host": self.record.host,
                "port": self.record.port,
                "connected": session is not None,
                "session_age_s": (
                    round(time.monotonic() - session.started, 1) if session else None
                ),
                "reconnects": max(0, self._sessions_opened - 1),
                "last_error": self._last_error,
                **{
                    key: res.status()
                    for key, res in (session.resources.items() if session else ())
                    if hasattr(res, "status")
                },
            }

    # -- session handling --------------------------------------------------

    def _run(self, task: Task, request: Request) -> Reply:
        return task(self, request)

    def _where(self) -> str:
        return f"{self.record.host}:{self.record.port}"

    def _current(self) -> _Session:
        """The live session, opening one (one thread at a time) when there is none."""
        session = self._session
        if session is not None:
            return session
        with self._connect_lock:
            with self._lock:
                if self._session is not None:
                    return self._session
                if time.monotonic() - self._failed_at < VSPHERE_CONNECT_HOLDOFF_S:
                    raise VSphereError(self._last_error or f"Cannot connect to {self._where()}")
            try:
                session = self._open()
            except VSphereError as exc:
                with self._lock:
                    self._last_error = str(exc)
                    self._failed_at = time.monotonic()
                raise
            with self._lock:
                self._session = session
                self._sessions_opened += 1
                reopened = self._sessions_opened > 1
            if reopened:
                log.info("%s: session re-established", self)
            return session

    def _note_lost(
        self, session: _Session | None, exc: BaseException, *, logout: bool = False
    ) -> None:
        """Forget ``session`` (if still current) after ``exc`` showed it unusable.

        With ``logout`` (the connection broke, the server may still hold the
        session) the old session is logged out in the background, so that
        reconnects do not pile up sessions against the server's limit.
        """
        if session is None:
            return
        with self._lock:
            self._last_error = _describe(exc)
            replaced = self._session is not session
            if not replaced:
                self._session = None
        if replaced:
            # Another thread retired it already, but this call's connection
            # may have gone back to its pool after that: close it too.
            session.stub.DropConnections()
            return
        log.warning("%s: session lost (%s), reconnecting", self, self._last_error)
        _close_resources(session)
        if logout:
            _logout_in_background(session, self.host)
        else:
            _retire(session)

    def _open(self) -> _Session:
        """Connect, negotiate the API version and log in."""
        record = self.record
        context = self._ssl_context()
        version = self._negotiate_version(context)
        stub = _SoapStubAdapter(
            host=record.host,
            port=record.port,
            version=version,
            poolSize=self.concurrency + SESSION_BACKGROUND_CALLS,
            sslContext=context,
            httpConnectionTimeout=VSPHERE_CALL_TIMEOUT_S,
            connectionPoolTimeout=VSPHERE_POOL_IDLE_TIMEOUT_S,
        )
        si = _ServiceInstance("ServiceInstance", stub)
        try:
            content = si.RetrieveContent()
            content.sessionManager.Login(record.user, record.password, None)
        except vim.fault.InvalidLogin as exc:
            stub.DropConnections()
            raise VSphereError(
                f"Login to {self._where()} as {record.user!r} failed: {_describe(exc)}"
            ) from exc
        except vmodl.MethodFault as exc:
            stub.DropConnections()
            raise VSphereError(f"Login to {self._where()} failed: {_describe(exc)}") from exc
        except _CONNECTION_ERRORS as exc:
            stub.DropConnections()
            raise self._connect_error(exc) from exc
        log.info("%s: logged in as %s (API %s)", self, record.user, version)
        return _Session(si=si, stub=stub, content=content)

    def _ssl_context(self) -> ssl.SSLContext:
        record = self.record
        if record.insecure:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        try:
            return ssl.create_default_context(cafile=record.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise VSphereError(
                f"Cannot load CA file {record.ca_file!r} for {self._where()}: {exc}"
            ) from exc

    def _negotiate_version(self, context: ssl.SSLContext) -> str:
        """Pick the newest API version both pyVmomi and the server know.

        This first request is made with the connect timeout, so an unreachable
        host or a bad certificate fails here, fast and with a clear message.
        """
        conn = http.client.HTTPSConnection(
            self.record.host, self.record.port, timeout=self.connect_timeout_s, context=context
        )
        try:
            conn.request("GET", "/sdk/vimServiceVersions.xml")
            response = conn.getresponse()
            body = response.read()
        except _CONNECTION_ERRORS as exc:
            raise self._connect_error(exc) from exc
        finally:
            conn.close()
        if response.status != 200:
            return _FALLBACK_VERSION
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            return _FALLBACK_VERSION
        server_ids = {
            node.text
            for namespace in root.iter("namespace")
            if namespace.findtext("name") == "urn:vim25"
            for node in namespace.iter("version")
            if node.text
        }
        for version in _get_service_versions("vim25"):
            if VmomiSupport.versionIdMap.get(version) in server_ids:
                return str(version)
        return _FALLBACK_VERSION

    def _timeout_error(self, exc: BaseException) -> VSphereError:
        return VSphereError(
            f"{self._where()} did not answer within {VSPHERE_CALL_TIMEOUT_S:g}s ({exc})"
        )

    def _connect_error(self, exc: BaseException) -> VSphereError:
        where = self._where()
        if isinstance(exc, ssl.SSLCertVerificationError):
            return VSphereError(
                f"TLS certificate of {where} failed verification: "
                f"{exc.verify_message or exc.reason}; register the agent with "
                "--ca-file <CA bundle> to trust its certificate, or --insecure "
                "to skip verification"
            )
        if isinstance(exc, TimeoutError):
            return VSphereError(
                f"Cannot connect to {where}: no answer within {self.connect_timeout_s:g}s"
            )
        return VSphereError(f"Cannot connect to {where}: {_describe(exc)}")


def _describe(exc: BaseException) -> str:
    """A one-line description: fault class and message, never a traceback."""
    if isinstance(exc, vmodl.MethodFault):
        name = getattr(exc, "_wsdlName", type(exc).__name__)
        msg = getattr(exc, "msg", None) or "; ".join(
            m.message for m in exc.faultMessage if m.message
        )
        if isinstance(exc, vmodl.query.InvalidProperty) and exc.name:
            msg = msg or f"invalid property {exc.name!r}"
        if isinstance(exc, vmodl.fault.ManagedObjectNotFound) and exc.obj is not None:
            msg = msg or f"object {exc.obj._moId} not found"
        return f"{name}: {msg}" if msg else str(name)
    if isinstance(exc, VPollerError):
        return str(exc)
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text


def _logout_in_background(session: _Session, host: str) -> None:
    threading.Thread(
        target=_logout_quietly, args=(session,), name=f"logout-{host}", daemon=True
    ).start()


def _close_resources(session: _Session) -> None:
    """Close the session's resources (they must not block)."""
    for res in list(session.resources.values()):
        res.close()


def _logout_quietly(session: _Session) -> None:
    try:
        session.content.sessionManager.Logout()
    except _LOGOUT_ERRORS as exc:
        # Logging out is a courtesy to the server's session limit; the session
        # expires on its own when this fails.
        log.debug("logout failed: %s", _describe(exc))
    finally:
        _retire(session)


def _retire(session: _Session) -> None:
    """Close the session's idle connections and stop it pooling new ones.

    A call still running on a retired session (one that outlived its
    deadline) then closes its connection when done instead of parking it in
    a pool nobody drains.
    """
    session.stub.poolSize = 0
    session.stub.DropConnections()
