// agent-sync landing page (an ES module): create a room (POST /rooms), show its tokens once, open its
// dashboard. Tokens go into the dashboard link's fragment only, which browsers never send to a server.
const $ = (id) => document.getElementById(id);
const dashboardLink = (room, token) =>
  `/?room=${encodeURIComponent(room)}#token=${encodeURIComponent(token)}`;

for (const el of document.querySelectorAll(".origin")) el.textContent = location.origin;

$("create-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const id = $("create-id").value.trim();
  const err = $("create-error");
  err.hidden = true;
  $("create-go").disabled = true;
  try {
    const res = await fetch("/rooms", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(id ? { id } : {}),
    });
    const body = await res.json().catch(() => ({}));
    if (res.status !== 201) {
      err.textContent = body.message || `could not create the room (${res.status})`;
      err.hidden = false;
      return;
    }
    $("created-id").textContent = body.id;
    $("room-token").value = body.token;
    $("view-token").value = body.view_token;
    $("open-dashboard").href = dashboardLink(body.id, body.token);
    $("open-readonly").href = dashboardLink(body.id, body.view_token);
    $("created").hidden = false;
    $("create-id").value = "";
  } catch (x) {
    err.textContent = "network error: " + (x && x.message || x);
    err.hidden = false;
  } finally {
    $("create-go").disabled = false;
  }
});

document.addEventListener("click", async (e) => {
  const b = e.target.closest && e.target.closest("[data-copy]");
  if (!b) return;
  const input = $(b.dataset.copy);
  let ok = false;
  try {
    await navigator.clipboard.writeText(input.value);
    ok = true;
  } catch {
    input.select();
    ok = document.execCommand && document.execCommand("copy");
  }
  b.textContent = ok ? "Copied" : "Select & copy";
  setTimeout(() => (b.textContent = "Copy"), 1500);
});

$("open-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const room = $("open-id").value.trim();
  const token = $("open-token").value.trim();
  if (!room) return;
  location.href = token ? dashboardLink(room, token) : `/?room=${encodeURIComponent(room)}`;
});
