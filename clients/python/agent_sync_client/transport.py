"""HTTP/1.1 over a small pool of keep-alive ``http.client`` connections, each sending a request's head and
body in one write with TCP_NODELAY set, so no call waits on Nagle's algorithm and a delayed ACK (~40 ms).
Knows nothing of the API: requests in, ``(status, headers, body)`` out."""

from __future__ import annotations

import http.client
import select
import socket
import threading
from typing import Dict, List, Optional, Tuple
from urllib.parse import urlsplit


class _OneWrite:
    """Mixed into an http.client connection: the body goes out in the same write as the head."""

    _body_with_head: Optional[bytes] = None

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        # Python 3.11 sets this itself; older ones and some platforms do not
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[attr-defined]

    def send(self, data) -> None:  # type: ignore[no-untyped-def]
        # endheaders() hands the head to send(); the body waits here to go out with it
        body, self._body_with_head = self._body_with_head, None
        if body:
            data = bytes(data) + body
        super().send(data)  # type: ignore[misc]

    def send_request(self, method: str, target: str, headers: Dict[str, str], body: Optional[bytes]) -> None:
        self.putrequest(method, target, skip_accept_encoding=True)  # type: ignore[attr-defined]
        for k, v in headers.items():
            self.putheader(k, v)  # type: ignore[attr-defined]
        if body is not None:
            self.putheader("Content-Length", str(len(body)))  # type: ignore[attr-defined]
        self._body_with_head = body
        self.endheaders()  # type: ignore[attr-defined]


class Connection(_OneWrite, http.client.HTTPConnection):
    pass


class TLSConnection(_OneWrite, http.client.HTTPSConnection):
    pass


class Transport:
    """Connections to one origin; thread-safe (a connection serves one request at a time)."""

    def __init__(self, base_url: str) -> None:
        u = urlsplit(base_url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        self.scheme = u.scheme
        self.host = u.hostname
        self.port = u.port
        self.prefix = u.path.rstrip("/")
        self._idle: List[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def open(self, timeout: Optional[float]) -> http.client.HTTPConnection:
        """A new connection (not pooled), e.g. for a long-lived event stream."""
        cls = TLSConnection if self.scheme == "https" else Connection
        return cls(self.host, self.port, timeout=timeout)

    def exchange(
        self,
        method: str,
        target: str,
        headers: Dict[str, str],
        body: Optional[bytes],
        timeout: Optional[float],
    ) -> Tuple[int, http.client.HTTPMessage, bytes]:
        """One request on a pooled connection; raises OSError / http.client.HTTPException when no answer came."""
        conn = self._take(timeout)
        try:
            conn.send_request(method, self.prefix + target, headers, body)  # type: ignore[attr-defined]
            resp = conn.getresponse()
            data = resp.read()
        except BaseException:
            conn.close()
            raise
        if resp.will_close:
            conn.close()
        else:
            with self._lock:
                self._idle.append(conn)
        return resp.status, resp.headers, data

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for c in idle:
            c.close()

    def _take(self, timeout: Optional[float]) -> http.client.HTTPConnection:
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                conn = self.open(timeout)
                break
            if not _dropped(conn):
                break
            conn.close()
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """An idle keep-alive connection the server has closed is readable (EOF): never send a request on it,
    since afterwards nobody could tell whether the server got the request."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)
