"""A fake geomesh agent: GET /v1/failover and GET /v1/translate over
http.server in a thread, on a random loopback port."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fakekafka import FakeCluster

TranslateFn = Callable[[str, str], "tuple[int, Any]"]


def ap_state(epoch: int, decision: str, primary: str, standby: str, switch: dict[str, str] | None = None,
             fenced: str | None = None) -> dict[str, Any]:
    """An active-passive mesh state in GET /v1/failover's shape."""
    regions: dict[str, Any] = {primary: {"role": "primary"}, standby: {"role": "standby"}}
    if fenced:
        regions[fenced] = {"role": "fenced"}
    st: dict[str, Any] = {"epoch": epoch, "decision": decision, "regions": regions, "reason": f"test {decision}"}
    if switch:
        st["switch"] = switch
    if decision in ("switchover", "failover"):
        st["from"], st["to"] = (fenced or standby), primary
    return st


class FakeAgent:
    def __init__(self, *, tls: ssl.SSLContext | None = None) -> None:
        self.lock = threading.Lock()
        self.state: dict[str, Any] | None = None
        self.control_plane = "reachable"
        self.asked = 0
        self.auth: list[str | None] = []
        self.paths: list[str] = []
        # translate: (group, from) -> (status, body); default: from_cluster's
        # committed offsets, one to one ("copied"), or "end" at self.end.
        self.translate_fn: TranslateFn | None = None
        self.from_cluster: FakeCluster | None = None
        self.end: int | None = None
        agent = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                u = urllib.parse.urlsplit(self.path)
                with agent.lock:
                    agent.auth.append(self.headers.get("Authorization"))
                    agent.paths.append(self.path)
                if u.path == "/v1/failover":
                    with agent.lock:
                        agent.asked += 1
                        body: Any = {"mesh": "t", "control_plane": agent.control_plane}
                        if agent.state is not None:
                            body["state"] = agent.state
                            body["epoch"] = agent.state["epoch"]
                    self._send(200, body)
                elif u.path == "/v1/translate":
                    q = urllib.parse.parse_qs(u.query)
                    status, body = agent._translate(q.get("group", [""])[0], q.get("from", [""])[0])
                    self._send(status, body)
                else:
                    self._send(404, {"error": "not found"})

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self._closed = False

    @property
    def addr(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host}:{port}"

    def set_state(self, st: dict[str, Any] | None) -> None:
        with self.lock:
            self.state = st

    def _translate(self, group: str, from_: str) -> tuple[int, Any]:
        if self.translate_fn is not None:
            return self.translate_fn(group, from_)
        if self.from_cluster is None:
            return 400, {"error": f"no flow from region {from_!r}"}
        with self.from_cluster.cv:
            offs = dict(self.from_cluster.committed.get(group, {}))
        parts = []
        for (topic, p), at in sorted(offs.items()):
            target, state = at, "copied"
            if self.end is not None:
                target, state = self.end, "end"
            parts.append({"topic": topic, "partition": p, "source_offset": at, "target_topic": topic,
                          "target_offset": target, "state": state, "origin_offset": at})
        return 200, {"group": group, "from": from_, "to": "?", "partitions": parts}

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def refused_addr() -> str:
    """A loopback address that refuses connections."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    addr = "%s:%d" % s.getsockname()
    s.close()
    return addr


class SilentListener:
    """A loopback address that accepts connections and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.addr = "%s:%d" % self.sock.getsockname()

    def close(self) -> None:
        self.sock.close()
