"""Client: the agent-sync HTTP API in Python naming — rooms, join, reads, invoke (with a per-call
Idempotency-Key its retries reuse), invoke-and-wait, wait, a wait loop and the SSE change feed as
iterators. Standard library only."""

from __future__ import annotations

import codecs
import contextlib
import http.client
import json
import random
import threading
import time
import uuid
from typing import Any, Dict, Iterator, List, Optional, Union
from urllib.parse import quote, urlencode

from .errors import SyncError
from .sse import SseParser
from .transport import Transport

Json = Dict[str, Any]
RoomRef = Union[str, Dict[str, Any]]
WaitSpec = Union[str, Dict[str, Any]]

RETRY_STATUS = (502, 503, 504)
MAX_DELAY = 2.0
#: the server's longest wait (SYNC_MAX_WAIT_MS default), for the socket timeout of waits without one
SERVER_MAX_WAIT = 25.0


class Client:
    """``Client(base_url, token=None)``: calls act with ``token`` (a room, view or agent token).

    Calls that may be repeated safely (reads, waits, invokes with their Idempotency-Key) are retried after a
    network error or a 502/503/504, ``retries`` times with a doubling delay from ``retry_delay`` seconds.
    ``timeout`` (seconds) bounds each call; waits get their own wait time on top.
    """

    def __init__(
        self,
        base_url: str,
        token: Optional[str] = None,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        retry_delay: float = 0.1,
        _transport: Optional[Transport] = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.retries = retries
        self.retry_delay = retry_delay
        self._transport = _transport or Transport(self.base_url)

    def with_token(self, token: Optional[str]) -> Client:
        """The same client (and connections) acting with another token."""
        return Client(
            self.base_url,
            token,
            timeout=self.timeout,
            retries=self.retries,
            retry_delay=self.retry_delay,
            _transport=self._transport,
        )

    def close(self) -> None:
        """Closes the idle connections (shared with the clients made by ``with_token``)."""
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- rooms and agents

    def create_room(self, id: Optional[str] = None, meta: Any = None, liveness_ms: Optional[int] = None) -> Json:
        """``POST /rooms`` → the room with its ``token`` and ``view_token`` (shown only once). ``liveness_ms``:
        ms of silence after which an agent is gone (default the server's). Not retried."""
        body: Json = {}
        if id is not None:
            body["id"] = id
        if meta is not None:
            body["meta"] = meta
        if liveness_ms is not None:
            body["liveness_ms"] = liveness_ms
        return self.request("POST", "/rooms", body=body)

    def update_room(self, room: RoomRef, **fields: Any) -> Json:
        """``PATCH /rooms/:id`` (room token): ``liveness_ms`` (None: the server's default again)."""
        return self.request("PATCH", f"/rooms/{_room(room)}", body=fields, retry=True)

    def get_room(self, room: RoomRef) -> Json:
        return self.request("GET", f"/rooms/{_room(room)}", retry=True)

    def rooms(self) -> List[Json]:
        """The rooms this client's token belongs to."""
        return self.request("GET", "/rooms", retry=True)

    def join(self, room: RoomRef, id: Optional[str] = None, **fields: Any) -> Json:
        """``POST /rooms/:id/agents`` (``name``, ``role``, ``meta``, ``state``, ``public_keys``, ``views``) → the
        agent with its ``token``. A re-join needs the agent's or the room token as this client's. Not retried."""
        body = dict(fields)
        if id is not None:
            body["id"] = id
        return self.request("POST", f"/rooms/{_room(room)}/agents", body=body)

    def agents(self, room: RoomRef) -> List[Json]:
        return self.request("GET", f"/rooms/{_room(room)}/agents", retry=True)

    def update_agent(self, room: RoomRef, agent: str, **fields: Any) -> Json:
        """``PATCH /rooms/:id/agents/:agent`` (room token): ``grants``, ``role``, ``name``, ``meta``, ``status``."""
        return self.request("PATCH", f"/rooms/{_room(room)}/agents/{_seg(agent)}", body=fields, retry=True)

    # ---- reads

    def context(self, room: RoomRef, **query: Any) -> Json:
        """``GET /rooms/:id/context``: ``only``, ``messages_after``, ``messages_limit``, ``agent``, ``compact``."""
        return self.request("GET", f"/rooms/{_room(room)}/context", query=query, retry=True)

    def state(
        self, room: RoomRef, scope: Optional[str] = None, key: Optional[str] = None, agent: Optional[str] = None
    ) -> Any:
        """``GET /rooms/:id/state``: one row with ``key``, else a list of rows."""
        q = {"scope": scope, "key": key, "agent": agent}
        return self.request("GET", f"/rooms/{_room(room)}/state", query=q, retry=True)

    def eval(self, room: RoomRef, expr: str, agent: Optional[str] = None) -> Json:
        """``POST /rooms/:id/eval`` → ``{expression, value, context_keys}`` (a runtime error: ``value`` None)."""
        body: Json = {"expr": expr}
        if agent is not None:
            body["agent"] = agent
        return self.request("POST", f"/rooms/{_room(room)}/eval", body=body, retry=True)

    def actions(self, room: RoomRef) -> List[Json]:
        return self.request("GET", f"/rooms/{_room(room)}/actions", retry=True)

    def action(self, room: RoomRef, action: str) -> Json:
        return self.request("GET", f"/rooms/{_room(room)}/actions/{_seg(action)}", retry=True)

    def views(self, room: RoomRef) -> List[Json]:
        return self.request("GET", f"/rooms/{_room(room)}/views", retry=True)

    # ---- invoke and wait

    def invoke(
        self,
        room: RoomRef,
        action: str,
        params: Optional[Json] = None,
        wait: Optional[WaitSpec] = None,
        *,
        dry_run: bool = False,
        idempotency_key: Union[str, bool, None] = None,
        agent: Optional[str] = None,
    ) -> Json:
        """``POST /rooms/:id/actions/:action/invoke`` → ``{ok, action, writes, cursor, ...}``.

        Sent with an ``Idempotency-Key`` (fresh per call unless given) that its retries reuse, so a retry after
        a lost answer gets the first answer back instead of applying twice. ``wait`` (a condition, or
        ``{condition, timeout, include, after}``) makes it invoke-and-wait: the answer's ``wait`` is the wake
        for a state committed after this invocation. ``idempotency_key=False`` sends none (the server then skips
        looking the key up and storing the answer, ~0.15 ms per call; such a call is not retried).
        """
        path = f"/rooms/{_room(room)}/actions/{_seg(action)}/invoke"
        body: Json = {"params": params or {}}
        if agent is not None:
            body["agent"] = agent
        if dry_run:
            body["dry_run"] = True
        if isinstance(idempotency_key, str):
            key: Optional[str] = idempotency_key
        elif idempotency_key is False or dry_run:
            key = None
        else:
            key = str(uuid.uuid4())
        headers = {} if key is None else {"Idempotency-Key": key}
        retry = key is not None or dry_run
        spec: Optional[Json] = {"condition": wait} if isinstance(wait, str) else wait
        if spec is None or dry_run:
            return self.request("POST", path, body=body, headers=headers, retry=retry)
        timeout = self.timeout + spec.get("timeout", SERVER_MAX_WAIT * 1000) / 1000
        try:
            return self.request("POST", path, body={**body, "wait": spec}, headers=headers, timeout=timeout)
        except SyncError as e:
            if not retry or not (e.status == 0 or e.status in RETRY_STATUS):
                raise
        # The answer was lost, and with it the wake. Replay the invocation alone (same key: it applies at most
        # once and answers with its own commit's cursor), then wait for a state committed after that cursor.
        time.sleep(_jitter(self.retry_delay))
        res = self.request("POST", path, body=body, headers=headers, retry=True)
        res["wait"] = self.wait(
            room,
            spec["condition"],
            after=res["cursor"],
            timeout=spec.get("timeout"),
            include=spec.get("include", "changes"),
            agent=agent,
        )
        return res

    def wait(
        self,
        room: RoomRef,
        condition: str,
        after: Optional[int] = None,
        timeout: Optional[int] = None,
        include: Union[str, List[str], None] = None,
        agent: Optional[str] = None,
    ) -> Json:
        """``GET /rooms/:id/wait``: blocks until ``condition`` holds (at once if it already does, unless ``after``
        is given: then only for a change after that cursor) or ``timeout`` ms pass (``triggered`` False)."""
        q = {"condition": condition, "after": after, "timeout": timeout, "include": include, "agent": agent}
        wait_s = (timeout if timeout is not None else SERVER_MAX_WAIT * 1000) / 1000
        return self.request(
            "GET", f"/rooms/{_room(room)}/wait", query=q, retry=True, timeout=self.timeout + wait_s
        )

    @contextlib.contextmanager
    def keep_alive(self, room: RoomRef, hold_ms: int = 5000) -> Iterator[None]:
        """A ``with`` block during which this client's agent holds a ``/wait`` open (from a thread): an open
        wait is a sign of life, so the agent's leases and presence last however long the block takes — a
        model call, a build — without calling in between. The last wait ends at most ``hold_ms`` after."""
        stop = threading.Event()

        def hold() -> None:
            while not stop.is_set():
                try:
                    self.wait(room, "false", timeout=hold_ms)
                except SyncError:
                    stop.wait(1.0)  # refused or unreachable: try again in a moment

        thread = threading.Thread(target=hold, name="agent-sync-keep-alive", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()

    def wait_until(
        self,
        room: RoomRef,
        condition: str,
        after: Optional[int] = None,
        timeout: Optional[int] = None,
        include: Union[str, List[str], None] = None,
        agent: Optional[str] = None,
    ) -> Json:
        """``wait`` until it triggers: asks again after each timeout and returns the wake."""
        while True:
            w = self.wait(room, condition, after=after, timeout=timeout, include=include, agent=agent)
            if w["triggered"]:
                return w

    def wait_loop(
        self,
        room: RoomRef,
        condition: str,
        after: Optional[int] = None,
        timeout: Optional[int] = None,
        include: Union[str, List[str], None] = None,
        agent: Optional[str] = None,
    ) -> WaitLoop:
        """An iterator of wakes: each time ``condition`` holds for a change not yet seen. The first wait is
        level-triggered (unless ``after`` is given), each next one goes on from the last wake's cursor;
        timeouts are re-issued, not yielded. Set ``loop.cursor`` to move on (e.g. to your own invocation's)."""
        return WaitLoop(self, room, condition, after=after, timeout=timeout, include=include, agent=agent)

    def events(
        self,
        room: RoomRef,
        after: Optional[int] = None,
        *,
        agent: Optional[str] = None,
        reconnect_delay: Optional[float] = None,
        max_reconnects: int = 10,
        idle_timeout: float = 45.0,
    ) -> Iterator[Json]:
        """``GET /rooms/:id/events`` as an iterator of ``{"type": "change", cursor, changes, messages, audit}``
        (or ``{"type": "reset", cursor}``: re-read the context). A dropped or silent (``idle_timeout`` s; the
        server sends a comment every 15 s) connection is re-opened with ``Last-Event-ID``, so no event is lost
        or repeated across the gap. Leave the loop to close it. Raises ``SyncError`` for a refusal (401, 404,
        ...) or after ``max_reconnects`` failed reconnections in a row."""
        path = f"/rooms/{_room(room)}/events" + ("?" + urlencode({"agent": agent}) if agent is not None else "")
        last: Optional[int] = after
        delay = reconnect_delay if reconnect_delay is not None else 1.0
        failures = 0
        while True:
            conn = self._transport.open(idle_timeout)
            connected = False
            try:
                headers = self._headers({"Accept": "text/event-stream"})
                if last is not None:
                    headers["Last-Event-ID"] = str(last)
                conn.send_request("GET", self._transport.prefix + path, headers, None)  # type: ignore[attr-defined]
                resp = conn.getresponse()
                if resp.status != 200:
                    err = SyncError.from_response(resp.status, resp.read().decode("utf-8", "replace"))
                    failures += 1
                    if resp.status not in RETRY_STATUS or failures > max_reconnects:
                        raise err
                else:
                    connected = True
                    failures = 0
                    parser = SseParser()
                    decoder = codecs.getincrementaldecoder("utf-8")()
                    while True:
                        chunk = resp.read1(65536)
                        if not chunk:
                            break
                        for m in parser.push(decoder.decode(chunk)):
                            if m.retry is not None and reconnect_delay is None:
                                delay = m.retry / 1000
                            if last is None and m.comment and " at cursor " in m.comment:
                                # the stream opens with ": connected to ROOM at cursor N": resume from there
                                tail = m.comment.rsplit(" ", 1)[-1]
                                if tail.isdigit():
                                    last = int(tail)
                            if m.event is None or m.data is None:
                                continue
                            if m.id is not None and m.id.isdigit():
                                last = int(m.id)
                            if m.event in ("change", "reset"):
                                yield {"type": m.event, **json.loads(m.data)}
            except (OSError, http.client.HTTPException) as e:
                # a network error, or the idle timeout: reconnect
                if not connected:
                    failures += 1
                    if failures > max_reconnects:
                        raise SyncError(0, "network_error", f"events: {e}") from e
            finally:
                conn.close()
            time.sleep(delay)

    # ---- the transport

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Optional[Dict[str, Any]] = None,
        body: Any = None,
        headers: Optional[Dict[str, str]] = None,
        retry: bool = False,
        timeout: Optional[float] = None,
    ) -> Any:
        """One call: JSON in, JSON out, ``SyncError`` for any error answer. ``retry`` repeats it after a network
        error or a 502/503/504 (only for calls safe to repeat), with a doubling, bounded delay."""
        target = path + _query(query or {})
        h = self._headers(headers or {})
        data: Optional[bytes] = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode()
            h["Content-Type"] = "application/json"
        attempts = 1 + (self.retries if retry else 0)
        delay = self.retry_delay
        for attempt in range(attempts):
            last_try = attempt + 1 >= attempts
            try:
                status, resp_headers, raw = self._transport.exchange(
                    method, target, h, data, timeout if timeout is not None else self.timeout
                )
            except (OSError, http.client.HTTPException) as e:
                if last_try:
                    raise SyncError(0, "network_error", f"{method} {path}: {e!r}") from e
                time.sleep(_jitter(delay))
                delay = min(delay * 2, MAX_DELAY)
                continue
            text = raw.decode("utf-8")
            if 200 <= status < 300:
                return json.loads(text) if text else None
            if status in RETRY_STATUS and not last_try:
                after = resp_headers.get("Retry-After", "")
                time.sleep(min(float(after), MAX_DELAY) if after.isdigit() else _jitter(delay))
                delay = min(delay * 2, MAX_DELAY)
                continue
            raise SyncError.from_response(status, text)
        raise AssertionError("unreachable")

    def _headers(self, extra: Dict[str, str]) -> Dict[str, str]:
        h = {"Accept": "application/json", **extra}
        if self.token is not None:
            h["Authorization"] = f"Bearer {self.token}"
        return h


class WaitLoop:
    """The iterator of ``client.wait_loop()``; ``cursor`` is where the next wait starts."""

    def __init__(
        self,
        client: Client,
        room: RoomRef,
        condition: str,
        *,
        after: Optional[int] = None,
        timeout: Optional[int] = None,
        include: Union[str, List[str], None] = None,
        agent: Optional[str] = None,
    ) -> None:
        self.client = client
        self.room = room
        self.condition = condition
        self.cursor = after
        self.timeout = timeout
        self.include = include
        self.agent = agent

    def __iter__(self) -> Iterator[Json]:
        while True:
            # a timeout keeps the cursor: the next wait still fires for anything after the last wake
            w = self.client.wait_until(
                self.room, self.condition, after=self.cursor, timeout=self.timeout, include=self.include,
                agent=self.agent,
            )
            self.cursor = w["cursor"]
            yield w


def _room(room: RoomRef) -> str:
    return _seg(room if isinstance(room, str) else room["id"])


def _seg(s: str) -> str:
    return quote(s, safe="")


def _query(q: Dict[str, Any]) -> str:
    pairs = []
    for k, v in q.items():
        if v is None:
            continue
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, (list, tuple)):
            v = ",".join(str(x) for x in v)
        pairs.append((k, str(v)))
    return "?" + urlencode(pairs) if pairs else ""


def _jitter(s: float) -> float:
    return s / 2 + random.random() * s / 2
