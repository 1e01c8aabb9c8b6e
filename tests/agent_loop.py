# The "Typical agent loop" of seed 000 (last section), run as written except for two things:
# BASE comes from the environment (the test server's address) and `while True` is bounded to TURNS turns.
# tests/api/agent_loop_test.ts runs it with Debian's python3 and python3-httpx.
import os

import httpx

BASE = os.environ.get("AGENT_SYNC_BASE", "https://sync.parc.land")
ROOM = "my-room"
TURNS = int(os.environ.get("AGENT_LOOP_TURNS", "3"))

# Join
r = httpx.post(f"{BASE}/rooms/{ROOM}/agents", json={"id": "worker-1", "name": "Worker 1"})
TOKEN = r.json()["token"]
HEADERS = {"Authorization": f"Bearer {TOKEN}"}

for _turn in range(TURNS):  # was: while True
    # Check available actions
    actions = httpx.get(f"{BASE}/rooms/{ROOM}/actions", headers=HEADERS).json()
    available = [a for a in actions if a.get("available")]

    if not available:
        # Wait for something to change
        r = httpx.get(
            f"{BASE}/rooms/{ROOM}/wait",
            params={"condition": "messages.unread > 0", "include": "actions,state"},
            headers=HEADERS, timeout=30
        )
        continue

    # Pick an action and invoke it
    action = available[0]
    httpx.post(
        f"{BASE}/rooms/{ROOM}/actions/{action['id']}/invoke",
        json={"params": {"body": "doing work..."}},
        headers=HEADERS
    )
