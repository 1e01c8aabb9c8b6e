"""The Python client (clients/python, agent_sync_client) against a live server at $BASE, run by
tests/clients/python_test.ts: the README walk-through, the three-agent one-call game, SSE resumption across
a cut connection, idempotent retries after lost answers, the wait loop, typed errors, one write per request
with TCP_NODELAY. Any failed check raises; on success it prints one JSON line for the Deno side to check."""

import http.client
import http.server
import json
import os
import queue
import socket
import threading
import time

from agent_sync_client import Client, SyncError

BASE = os.environ["BASE"]
MY_TURN = "state._shared.player == self"
checks = []


def check(name):
    def run(fn):
        fn()
        checks.append(name)
        return fn

    return run


def refusal(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except SyncError as e:
        return e
    raise AssertionError(f"expected {fn.__name__} to be refused")


def until(ok, what, limit=10.0):
    end = time.monotonic() + limit
    while not ok():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def shared(c, room, key):
    return c.state(room, scope="_shared", key=key)["value"]


def audit_of(admin, room, action):
    return [a for a in admin.request("GET", f"/rooms/{room}/poll")["audit"] if a["action"] == action]


class Proxy:
    """A loopback TCP proxy this script controls: records what clients sent and received, cuts every open
    connection on demand, and can swallow the answer to a request after the server has run it."""

    def __init__(self, base):
        host, port = base.split("//", 1)[1].split(":")
        self.target = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.base = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.lock = threading.Lock()
        self.pairs = []
        self.drops = []
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            pair = {"socks": (client, server), "sent": b"", "received": b"", "drop": False, "open": True}
            with self.lock:
                self.accepted += 1
                self.pairs.append(pair)
            threading.Thread(target=self._pump, args=(pair, client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(pair, server, client, False), daemon=True).start()

    def _pump(self, pair, src, dst, upstream):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with self.lock:
                    if upstream:
                        pair["sent"] += data
                        for d in self.drops:
                            if d[1] > 0 and d[0] in data:
                                d[1] -= 1
                                pair["drop"] = True
                                break
                    elif pair["drop"]:
                        break  # the server has answered: lose the answer and the connection
                    else:
                        pair["received"] += data
                dst.sendall(data)
        except OSError:
            pass
        self._end(pair)

    def _end(self, pair):
        with self.lock:
            if not pair["open"]:
                return
            pair["open"] = False
        for s in pair["socks"]:
            try:
                s.shutdown(socket.SHUT_RDWR)  # wakes the pump blocked in recv on it
            except OSError:
                pass
            s.close()

    def sent(self):
        with self.lock:
            return [p["sent"].decode("utf-8", "replace") for p in self.pairs]

    def received(self):
        with self.lock:
            return [p["received"].decode("utf-8", "replace") for p in self.pairs]

    def cut_all(self):
        with self.lock:
            pairs = list(self.pairs)
        for p in pairs:
            self._end(p)

    def drop_answer(self, marker, n=1):
        with self.lock:
            self.drops.append([marker.encode(), n])

    def close(self):
        self.listener.close()
        self.cut_all()


anon = Client(BASE)

TAKE_TURN = {
    "id": "take_turn",
    "description": "Play a move and pass the turn",
    "params": {"move": {"type": "string", "required": True}, "next": {"type": "string", "required": True}},
    "if": "state._shared.player == self",
    "writes": [
        {"scope": "_shared", "key": "last_move", "value": {"by": "${self}", "move": "${params.move}"}},
        {"scope": "_shared", "key": "turn", "increment": True},
        {"scope": "_shared", "key": "player", "value": "${params.next}"},
    ],
}


@check("walk-through")
def walk_through():
    room = anon.create_room(meta={"title": "demo"})
    assert room["token"].startswith("room_") and room["view_token"].startswith("view_")
    alice = anon.with_token(anon.join(room, "alice", role="player")["token"])
    bob = anon.with_token(anon.join(room, "bob", role="player", state={"plan": "castle early"})["token"])
    admin = anon.with_token(room["token"])

    r = admin.invoke(room, "_batch_set_state", {"writes": [
        {"scope": "_shared", "key": "turn", "value": 1},
        {"scope": "_shared", "key": "player", "value": "alice"},
    ]})
    assert r["ok"] and len(r["writes"]) == 2 and isinstance(r["cursor"], int)
    assert admin.invoke(room, "_register_action", TAKE_TURN)["id"] == "take_turn"

    e = refusal(bob.invoke, room, "take_turn", {"move": "e5", "next": "alice"})
    assert (e.status, e.code) == (409, "precondition_failed"), e
    assert e.details["expression"] == "state._shared.player == self"
    assert e.details["detail"] == {"state._shared.player": "alice"}

    # bob waits after his cursor (in a thread, as the README does in the background); alice's move wakes him
    cursor = bob.context(room, only="state")["cursor"]
    woke = queue.Queue()
    t = threading.Thread(target=lambda: woke.put(bob.wait(room, MY_TURN, after=cursor, include="state")))
    t.start()
    moved = alice.invoke(room, "take_turn", {"move": "e4", "next": "bob"})
    w = woke.get(timeout=30)
    t.join()
    assert w["triggered"] and w["cursor"] >= moved["cursor"]
    assert w["state"]["self"] == {"plan": "castle early"} and w["state"]["_shared"]["player"] == "bob"

    # the one-call loop: bob moves and waits in one invoke
    answer = queue.Queue()
    t = threading.Thread(target=lambda: answer.put(bob.invoke(
        room, "take_turn", {"move": "e5", "next": "alice"}, wait={"condition": MY_TURN, "timeout": 25000})))
    t.start()
    assert alice.wait(room, MY_TURN)["triggered"]  # level-triggered: at once once it holds
    alice.invoke(room, "take_turn", {"move": "Nf3", "next": "bob"})
    r = answer.get(timeout=30)
    t.join()
    assert r["wait"]["triggered"]
    last = [c for c in r["wait"]["changes"] if c["key"] == "last_move"]
    assert last and last[0]["value"] == {"by": "alice", "move": "Nf3"}, r

    alice.invoke(room, "_send_message", {"body": "your move", "to": "bob"})
    ctx = bob.context(room, only="state,messages", compact=True)
    assert ctx["state"]["_shared"]["turn"] == 4
    assert ctx["messages"]["unread"] == 1 and ctx["messages"]["directed_unread"] == 1
    assert ctx["messages"]["recent"][0]["body"] == "your move" and ctx["self"] == "bob"

    e = refusal(alice.state, room, scope="bob")
    assert (e.status, e.code) == (403, "scope_denied") and e.details["scope"] == "bob"
    assert "castle" not in str(e) + json.dumps(e.details)
    view = anon.with_token(room["view_token"])
    assert view.state(room, scope="bob", key="plan")["value"] == "castle early"
    e = refusal(view.invoke, room, "_set_state", {"key": "x", "value": 1})
    assert (e.status, e.code) == (403, "read_only_token")


GAME = {}


@check("one-call game")
def one_call_game():
    turns = 4
    players = ["p1", "p2", "p3"]
    room = anon.create_room(id="py-game")
    admin = anon.with_token(room["token"])
    admin.invoke(room, "_batch_set_state", {"writes": [
        {"scope": "_shared", "key": "next", "value": {"p1": "p2", "p2": "p3", "p3": "p1"}},
        {"scope": "_shared", "key": "round", "value": 0},
        {"scope": "_shared", "key": "player", "value": "p1"},
    ]})
    admin.invoke(room, "_register_action", {
        "id": "play",
        "params": {"move": {"type": "string", "required": True}},
        "if": "state._shared.player == self",
        "writes": [
            {"scope": "_messages", "append": True, "value": {"kind": "move", "body": "${params.move}"}},
            {"scope": "_shared", "key": "round", "increment": True},
            {"scope": "_shared", "key": "player", "expr": True, "value": "state._shared.next[self]"},
        ],
    })
    tokens = {p: anon.join(room, p)["token"] for p in players}
    errors = []

    def play(me):
        try:
            c = Client(BASE, tokens[me])  # each agent its own client and connections
            c.wait_until(room, MY_TURN)  # first sync: at once when it is already my turn
            for n in range(turns):
                res = c.invoke(room, "play", {"move": f"{me}-{n}"}, wait=MY_TURN if n < turns - 1 else None)
                if "wait" in res and not res["wait"]["triggered"]:
                    c.wait_until(room, MY_TURN)
            c.close()
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=play, args=(p,)) for p in players]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    ctx = admin.context(room, only="state,messages", messages_limit=200)
    moves = [m["body"] for m in ctx["messages"]["recent"] if m["kind"] == "move"]
    expected = [f"{players[i % 3]}-{i // 3}" for i in range(3 * turns)]
    assert moves == expected, moves
    assert ctx["state"]["_shared"]["round"] == 3 * turns
    audit = audit_of(admin, room["id"], "play")
    assert len(audit) == 3 * turns and all(a["ok"] for a in audit)
    GAME.update(room=room["id"], token=room["token"], moves=moves)


@check("events resume after a cut connection")
def events_resume():
    proxy = Proxy(BASE)
    room = anon.create_room(id="py-feed")
    admin = anon.with_token(room["token"])
    via_proxy = Client(proxy.base, room["token"])

    def put(i):
        return admin.invoke(room, "_set_state", {"key": "k", "value": i})["cursor"]

    start = admin.context(room, only="state")["cursor"]
    feed = via_proxy.events(room, after=start, reconnect_delay=0.02)
    cursors = [put(i) for i in (1, 2, 3)]
    seen = [next(feed) for _ in range(3)]
    before = proxy.accepted
    proxy.cut_all()
    cursors += [put(i) for i in (4, 5, 6)]  # written while the feed is cut off
    seen += [next(feed) for _ in range(3)]
    cursors.append(put(7))
    seen.append(next(feed))
    feed.close()
    assert proxy.accepted > before, "the feed reconnected"
    assert f"Last-Event-ID: {cursors[2]}" in proxy.sent()[-1], proxy.sent()[-1]
    assert [e["type"] for e in seen] == ["change"] * 7
    assert [e["cursor"] for e in seen] == cursors, (seen, cursors)
    assert [e["changes"][0]["version"] for e in seen] == [1, 2, 3, 4, 5, 6, 7]

    # from now (no cursor given): a cut before the first event still resumes from the cursor at connect
    feed = via_proxy.events(room, reconnect_delay=0.02)
    got = queue.Queue()
    t = threading.Thread(target=lambda: got.put(next(feed)))
    n = proxy.accepted
    t.start()
    until(lambda: len(proxy.received()) > n and "connected to" in proxy.received()[n], "the feed to open")
    proxy.cut_all()
    c = put(8)
    e = got.get(timeout=10)
    t.join()
    feed.close()
    assert e["cursor"] == c, (e, c)
    proxy.close()


@check("a retry after a lost answer applies once")
def idempotent_retry():
    proxy = Proxy(BASE)
    room = anon.create_room(id="py-retry")
    admin = anon.with_token(room["token"])
    admin.invoke(room, "_register_action", {
        "id": "bump", "writes": [{"scope": "_shared", "key": "counter", "increment": True}],
    })
    alice = Client(proxy.base, anon.join(room, "alice")["token"], retry_delay=0.01)

    proxy.drop_answer("/actions/bump/invoke")
    r = alice.invoke(room, "bump")
    assert r["ok"] and r["writes"][0]["value"] == 1
    assert shared(admin, room, "counter") == 1
    assert len(audit_of(admin, room["id"], "bump")) == 1
    keys = [line.split(": ", 1)[1] for t in proxy.sent() for line in t.split("\r\n")
            if line.startswith("Idempotency-Key: ")]
    assert len(keys) == 2 and keys[0] == keys[1], keys

    # invoke-and-wait: the answer (and the wake in it) is lost; the retry still wakes, and applies once
    proxy.drop_answer("/actions/bump/invoke")
    answer = queue.Queue()
    t = threading.Thread(target=lambda: answer.put(alice.invoke(
        room, "bump", wait={"condition": "state._shared.counter >= 3", "timeout": 10000})))
    t.start()
    until(lambda: shared(admin, room, "counter") == 2, "alice's bump to commit")
    admin.invoke(room, "bump")
    r = answer.get(timeout=30)
    t.join()
    assert r["writes"][0]["value"] == 2, r
    assert r["wait"]["triggered"], r
    assert shared(admin, room, "counter") == 3
    assert len(audit_of(admin, room["id"], "bump")) == 3
    proxy.close()


@check("wait_loop re-issues after timeouts and carries the cursor")
def wait_loop():
    proxy = Proxy(BASE)
    room = anon.create_room(id="py-loop")
    admin = anon.with_token(room["token"])
    bob = Client(proxy.base, anon.join(room, "bob")["token"])
    loop = bob.wait_loop(room, "has(state._shared.n) && state._shared.n > 0", timeout=50, include="state")
    it = iter(loop)
    wakes = queue.Queue()
    t = threading.Thread(target=lambda: [wakes.put(next(it)) for _ in range(2)])
    t.start()
    until(lambda: sum(s.count("GET /rooms/py-loop/wait") for s in proxy.sent()) >= 2, "a wait re-issued")
    c1 = admin.invoke(room, "_set_state", {"key": "n", "value": 1})["cursor"]
    w1 = wakes.get(timeout=10)
    assert w1["triggered"] and w1["state"]["_shared"]["n"] == 1 and w1["cursor"] >= c1
    until(lambda: f"after={w1['cursor']}" in "".join(proxy.sent()), "the next wait to start from the wake")
    admin.invoke(room, "_set_state", {"key": "n", "value": 2})
    w2 = wakes.get(timeout=10)
    t.join()
    assert w2["state"]["_shared"]["n"] == 2, "the next wake is for a later change"
    assert loop.cursor == w2["cursor"]
    assert "after=" not in proxy.sent()[0].split("\r\n")[0], "the first wait is level-triggered"
    proxy.close()


@check("keep_alive holds a lease while the block runs; update_room sets the window")
def keep_alive():
    room = anon.create_room(id="py-lease", liveness_ms=1000)
    admin = anon.with_token(room["token"])
    assert admin.update_room(room, liveness_ms=800)["liveness_ms"] == 800
    worker = anon.with_token(anon.join(room, "worker")["token"])
    other = anon.with_token(anon.join(room, "other")["token"])
    for a in ("worker", "other"):
        admin.update_agent(room, a, grants=["_jobs"])
    took = worker.invoke(room, "_set_state", {"scope": "_jobs", "key": "j", "value": 1, "lease": {"ttl_ms": 600}})
    assert took["writes"][0]["lease"]["holder"] == "worker"
    claim = {"scope": "_jobs", "key": "j", "value": 2, "lease": True}
    with worker.keep_alive(room, hold_ms=300):
        end = time.monotonic() + 2.0  # three ttls without a call of the worker's own
        while time.monotonic() < end:
            assert refusal(other.invoke, room, "_set_state", claim).code == "lease_held"
            time.sleep(0.2)

    def claimed():
        try:
            return other.invoke(room, "_set_state", claim)["writes"][0]["lease"]["epoch"] == 2
        except SyncError:
            return False

    until(claimed, "the lease to lapse once the block ended")


@check("the SSE parser takes frames split anywhere")
def sse_split():
    from agent_sync_client.sse import SseParser

    text = ("retry: 5\r\n: connected to r at cursor 3\r\n\r\nid: 4\r\nevent: change\r\ndata: {\"a\":\r\n"
            "data: 1}\r\n\r\n: heartbeat\n\nid: 5\revent: reset\rdata: {}\r\r: bye\n\n")
    for cut in range(len(text) + 1):
        p = SseParser()
        msgs = p.push(text[:cut]) + p.push(text[cut:])
        assert [(m.id, m.event, m.data) for m in msgs if m.event] == [
            ("4", "change", '{"a":\n1}'), ("5", "reset", "{}")], (cut, [(m.id, m.event, m.data) for m in msgs])
        assert msgs[0].retry == 5 and msgs[0].comment == "connected to r at cursor 3"


@check("typed errors")
def typed_errors():
    room = anon.create_room(id="py-errors")
    admin = anon.with_token(room["token"])
    e = refusal(admin.context, "no-such-room")
    assert (e.status, e.code) == (404, "room_not_found") and isinstance(e, Exception) and e.message
    e = refusal(anon.with_token("as_nope").context, room)
    assert (e.status, e.code) == (401, "invalid_token")
    e = refusal(admin.wait, room, "state._shared.(", timeout=10)
    assert (e.status, e.code) == (400, "invalid_cel") and e.details["expression"] == "state._shared.("
    e = refusal(anon.create_room, id="py-errors")
    assert (e.status, e.code) == (409, "room_exists")
    assert str(e).startswith("409 room_exists: ")

    # nothing listens on a port just closed: no answer is status 0, network_error
    s = socket.create_server(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    e = refusal(Client(f"http://127.0.0.1:{port}", retries=1, retry_delay=0.001).context, "x")
    assert (e.status, e.code) == (0, "network_error") and e.__cause__ is not None

    # a gateway answering 502: retried with the same key, then a typed error with the status as its code
    keys = []

    class Gateway(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            keys.append(self.headers["Idempotency-Key"])
            body = b"<html>bad gateway</html>"
            self.send_response(502)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    gw = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    threading.Thread(target=gw.serve_forever, daemon=True).start()
    c = Client(f"http://127.0.0.1:{gw.server_address[1]}", "as_x", retries=2, retry_delay=0.001)
    e = refusal(c.invoke, "r", "bump")
    gw.shutdown()
    gw.server_close()
    c.close()
    assert (e.status, e.code) == (502, "http_502"), e
    assert len(keys) == 3 and len(set(keys)) == 1, keys


@check("one write per request, TCP_NODELAY")
def one_write():
    room = anon.create_room(id="py-nodelay")
    admin = Client(BASE, room["token"])
    admin.invoke(room, "_set_state", {"key": "warm", "value": 0})  # opens the pooled connection
    conn = admin._transport._idle[0]
    assert conn.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    writes = []
    original = socket.socket.sendall

    def counting(self, data, *args):
        writes.append(len(data))
        return original(self, data, *args)

    socket.socket.sendall = counting
    try:
        admin.invoke(room, "_set_state", {"key": "k", "value": "x" * 100})
        n_client = len(writes)
        writes.clear()
        raw = http.client.HTTPConnection(*BASE.split("//", 1)[1].split(":"))
        raw.request("POST", f"/rooms/{room['id']}/actions/_set_state/invoke", body=b'{"params":{"key":"k"}}',
                    headers={"Authorization": f"Bearer {room['token']}"})
        raw.getresponse().read()
        raw.close()
        n_raw = len(writes)
    finally:
        socket.socket.sendall = original
    admin.close()
    assert n_client == 1, f"the client wrote a request in {n_client} writes"
    assert n_raw == 2, f"plain http.client wrote it in {n_raw} (head, then body)"


anon.close()
print(json.dumps({"checks": checks, "game": GAME}))
