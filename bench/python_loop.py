# The Python half of bench/python_loop.ts: the median latency of one `POST …/actions/take_turn/invoke`
# (the README agent loop's call) with the README's httpx client as written, that client as it was before
# TCP_NODELAY, and other clients for comparison. Prints one JSON object.
import http.client, json, os, re, statistics, sys, time, urllib.parse

import httpcore, httpx

BASE, ROOM, TOKEN, ME = (os.environ[k] for k in ("BASE", "ROOM", "TOKEN", "ME"))
N = int(os.environ.get("N", "100"))
PATH = "/actions/take_turn/invoke"
BODY = {"params": {"move": "e4", "next": ME}}  # passes the turn to itself: every call is accepted
AUTH = {"Authorization": f"Bearer {TOKEN}"}

# the README's loop up to its first call: its imports, `room` (the client) and its helpers
readme = open(os.environ["README"]).read()
block = re.search(r"```python\n(.*?)```", readme[readme.index("\n## The agent loop"):], re.S).group(1)
loop = {}
exec(block[: block.index("\nwait_for_turn()")], loop)

before = httpx.Client(base_url=f"{BASE}/rooms/{ROOM}", timeout=40, headers=AUTH)
expect = httpx.Client(base_url=f"{BASE}/rooms/{ROOM}", timeout=40, headers={**AUTH, "Expect": "100-continue"})
url = urllib.parse.urlsplit(BASE)
conn = http.client.HTTPConnection(url.hostname, url.port)


def with_client(c):
    return lambda: c.post(PATH, json=BODY).raise_for_status()


def with_http_client():
    conn.request("POST", f"/rooms/{ROOM}{PATH}", body=json.dumps(BODY),
                 headers={**AUTH, "Content-Type": "application/json"})
    r = conn.getresponse()
    r.read()
    assert r.status == 200, r.status


def per_call():  # seed 000's loop (tests/agent_loop.py): module-level httpx.post, a new client each call
    httpx.post(f"{BASE}/rooms/{ROOM}{PATH}", json=BODY, headers=AUTH).raise_for_status()


def median_ms(post):
    for _ in range(5):
        post()
    times = []
    for _ in range(N):
        t = time.perf_counter()
        post()
        times.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(times), 2)


print(json.dumps({
    "python": sys.executable,
    "httpx": httpx.__version__,
    "httpcore": httpcore.__version__,
    "n": N,
    "median_ms": {
        "readme_before": median_ms(with_client(before)),
        "readme": median_ms(with_client(loop["room"])),
        "expect_100_continue": median_ms(with_client(expect)),
        "httpx_post_per_call": median_ms(per_call),
        "http_client": median_ms(with_http_client),
    },
}))
