"""A client of the agents' HTTP API (Go api.Client), on urllib alone.

Over HTTPS when the topology's ``api`` section has ``tls`` (verified
against ``ca_file``, or the system roots), with the read token of
``api.read_token`` as bearer token when one is set, resolved from its
``env:``/``file:`` reference on every request so that a rotated token file
is used at once. Redirects are not followed (an agent never redirects, and
following one would hand the token to another host). Proxies from the
environment are used, as Go's default transport does, except for loopback
addresses.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from .errors import AgentError, GeomeshError
from .state import ControlPlane, FailoverStatus, State, TranslateResponse
from .topology import Mesh, Secret

log = logging.getLogger("geomesh_client")

#: The default bound of one request (Go client: an http.Client with a 10s timeout).
DEFAULT_TIMEOUT = 10.0
#: How long read_state waits for one agent before it asks the next (Go agentTimeout).
AGENT_TIMEOUT = 2.0
#: The largest answer read from an agent.
MAX_ANSWER = 4 << 20


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class AgentClient:
    """Calls the HTTP API of a mesh's agents at the addresses the topology
    lists. Safe for concurrent use.

    :param timeout: bound of one request, in seconds.
    :param ca_file: PEM bundle that signs the agents' API certificates
        (when ``api.tls`` is set); default: the system roots.
    :param ssl_context: an SSLContext to use instead (client certificates,
        pinned ciphers ...); overrides ca_file.
    :param token: a token reference sent instead of ``api.read_token``.
    :param admin: send ``api.admin_token`` instead of the read token.
    """

    def __init__(
        self,
        mesh: Mesh,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        ca_file: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        token: Secret | None = None,
        admin: bool = False,
    ) -> None:
        self.mesh = mesh
        self.timeout = timeout
        self.scheme = "https" if mesh.api.tls is not None else "http"
        self._token = token or (mesh.api.admin_token if admin else mesh.api.read_token)
        self._ssl: ssl.SSLContext | None = None
        if self.scheme == "https":
            self._ssl = ssl_context or ssl.create_default_context(cafile=ca_file)

    def do(self, method: str, addr: str, path: str, body: Any = None, *, timeout: float | None = None) -> Any:
        """Sends one request to the agent at addr (host:port) and returns its
        decoded JSON answer. A non-2xx answer raises AgentError; a network
        failure raises OSError (URLError, TimeoutError, ConnectionError)."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        url = f"{self.scheme}://{addr}{path}"
        data = None
        headers = {"Accept": "application/json", "User-Agent": "geomesh-client-python"}
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self._token is not None:
            headers["Authorization"] = "Bearer " + self._token.resolve()
        req = urllib.request.Request(url, data=data, headers=headers, method=method)
        host = urllib.parse.urlsplit(url).hostname or ""
        proxies = {} if _loopback(host) else urllib.request.getproxies()
        handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler(proxies), _NoRedirect()]
        if self._ssl is not None:
            handlers.append(urllib.request.HTTPSHandler(context=self._ssl))
        opener = urllib.request.build_opener(*handlers)
        try:
            resp = opener.open(req, timeout=timeout)
        except urllib.error.HTTPError as e:
            raw = _read(e, deadline)
            msg = ""
            try:
                answer = json.loads(raw)
                if isinstance(answer, dict) and isinstance(answer.get("error"), str):
                    msg = answer["error"]
            except ValueError:
                pass
            raise AgentError(e.code, msg or f"{e.code} {e.reason}") from None
        with resp:
            raw = _read(resp, deadline)
        try:
            return json.loads(raw) if raw else None
        except ValueError as e:
            raise GeomeshError(f"{method} {path}: bad answer from agent at {addr}: {e}") from None

    def failover(self, addr: str, *, timeout: float | None = None) -> FailoverStatus:
        """The decision plane as the agent at addr sees it (GET /v1/failover)."""
        ans = self.do("GET", addr, "/v1/failover", timeout=timeout)
        try:
            return FailoverStatus.from_dict(ans)
        except ValueError as e:
            raise GeomeshError(f"GET /v1/failover: bad answer from agent at {addr}: {e}") from None

    def translate(self, addr: str, group: str, from_: str, *, timeout: float | None = None) -> TranslateResponse:
        """group's committed offsets in region from_, translated into the
        region of the agent at addr (GET /v1/translate)."""
        q = urllib.parse.urlencode({"from": from_, "group": group})
        ans = self.do("GET", addr, "/v1/translate?" + q, timeout=timeout)
        try:
            return TranslateResponse.from_dict(ans)
        except ValueError as e:
            raise GeomeshError(f"GET /v1/translate: bad answer from agent at {addr}: {e}") from None

    def read_state(self, *, agent_timeout: float = AGENT_TIMEOUT, stop: threading.Event | None = None) -> State:
        """The mesh state (Go Follower.read): the agents are asked in file
        order; the first that reaches the control plane wins; when none
        does, the newest state (highest epoch) any agent holds. An agent
        that does not answer within agent_timeout, or has no state yet, is
        skipped. Raises GeomeshError naming every agent's failure when no
        agent answered."""
        best: State | None = None
        errs: list[str] = []
        for r in self.mesh.regions:
            for a in r.agents:
                if stop is not None and stop.is_set():
                    raise GeomeshError(f"read the state of mesh {self.mesh.name}: stopped")
                try:
                    fs = self.failover(a.api, timeout=agent_timeout)
                    if fs.state is None:
                        raise GeomeshError(f"no state yet (control plane {fs.control_plane})")
                except (OSError, GeomeshError) as e:
                    errs.append(f"agent {a.id} of region {r.name}: {_reason(e)}")
                    continue
                if fs.control_plane == ControlPlane.REACHABLE:
                    return fs.state
                if best is None or fs.state.epoch > best.epoch:
                    best = fs.state
        if best is not None:
            return best
        raise GeomeshError(f"no agent of mesh {self.mesh.name} answered GET /v1/failover: " + "; ".join(errs))


def _reason(e: BaseException) -> str:
    if isinstance(e, urllib.error.URLError) and not isinstance(e, urllib.error.HTTPError):
        return str(e.reason)
    return str(e) or type(e).__name__


def _read(resp: Any, deadline: float) -> bytes:
    """Reads an answer of at most MAX_ANSWER bytes before deadline."""
    buf = bytearray()
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError("the agent's answer did not arrive in time")
        chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(65536)
        if not chunk:
            return bytes(buf)
        buf += chunk
        if len(buf) > MAX_ANSWER:
            raise GeomeshError(f"the agent's answer is larger than {MAX_ANSWER} bytes")
