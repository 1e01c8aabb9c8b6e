"""One Python variant of bench/clients.ts: N sequential invocations of `bump`, each timed, over one
keep-alive connection. Prints {"mode", "n", "us": [per-call microseconds]} as JSON.

usage: python3 bench/_clients.py MODE BASE ROOM TOKEN N WARMUP
MODE: raw | raw_key (http.client.HTTPConnection.request) | client | client_nokey (agent_sync_client) |
      httpx | httpx_nodelay (httpx.Client, as the README's loop; the latter with TCP_NODELAY)
"""

import http.client
import json
import socket
import sys
import time
import uuid

mode, base, room, token, n, warmup = sys.argv[1:7]
n, warmup = int(n), int(warmup)
path = f"/rooms/{room}/actions/bump/invoke"
body = b'{"params":{}}'
auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def raw_call(with_key):
    host, port = base.split("//", 1)[1].split(":")
    conn = http.client.HTTPConnection(host, int(port))

    def call():
        h = dict(auth, **({"Idempotency-Key": str(uuid.uuid4())} if with_key else {}))
        conn.request("POST", path, body=body, headers=h)
        r = conn.getresponse()
        out = json.loads(r.read())
        assert r.status == 200, out
        return out

    return call


def client_call(with_key):
    from agent_sync_client import Client

    c = Client(base, token)
    return lambda: c.invoke(room, "bump", idempotency_key=None if with_key else False)


def httpx_call(nodelay):
    import httpx

    transport = httpx.HTTPTransport()
    how = "default"
    if nodelay:
        opt = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
        try:
            transport = httpx.HTTPTransport(socket_options=opt)  # httpx >= 0.24
            how = "socket_options"
        except TypeError:
            # older httpx (Debian's 0.23): the same option through httpcore's network backend
            import httpcore
            from httpcore.backends.sync import SyncBackend

            class NoDelay(SyncBackend):
                def connect_tcp(self, *args, **kwargs):
                    stream = super().connect_tcp(*args, **kwargs)
                    stream._sock.setsockopt(*opt[0])
                    return stream

            transport._pool = httpcore.ConnectionPool(network_backend=NoDelay())
            how = "network_backend"
    c = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, transport=transport)

    def call():
        r = c.post(path, json={"params": {}})
        r.raise_for_status()
        return r.json()

    call.how = how
    return call


call = {
    "raw": lambda: raw_call(False),
    "raw_key": lambda: raw_call(True),
    "client": lambda: client_call(True),
    "client_nokey": lambda: client_call(False),
    "httpx": lambda: httpx_call(False),
    "httpx_nodelay": lambda: httpx_call(True),
}[mode]()

for _ in range(warmup):
    call()
us = []
for _ in range(n):
    t0 = time.perf_counter()
    call()
    us.append((time.perf_counter() - t0) * 1e6)
print(json.dumps({"mode": mode, "n": n, "how": getattr(call, "how", None), "us": us}))
