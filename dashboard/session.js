// The dashboard's session: the room, the token (taken from the URL fragment, kept in sessionStorage, sent
// only as a bearer header), what it makes us (room, view or agent token), and the one request helper.
export const ROOM = document.body.dataset.room;
export const ROOM_PATH = "/rooms/" + encodeURIComponent(ROOM);
const STORE = "agent-sync:token:" + ROOM;

/** What every module reads: the token, its kind, the room token's perspective and the last /poll. */
export const S = {
  token: null,
  kind: "admin", // admin | viewer | agent
  perspective: "", // the agent id the room token reads as ("" = everything)
  data: null, // the last /poll answer
  stopped: false, // the room is gone or the token refused: no more requests
};

/** Moves a `#token=` fragment into sessionStorage (and out of the address bar); returns the token. */
export function takeToken() {
  const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (m) {
    const t = decodeURIComponent(m[1]).trim();
    if (t) sessionStorage.setItem(STORE, t);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(STORE);
}

export const keepToken = (t) => sessionStorage.setItem(STORE, t);
export const forgetToken = () => sessionStorage.removeItem(STORE);

export const kindOf = (token) =>
  token.startsWith("view_") ? "viewer" : token.startsWith("as_") ? "agent" : "admin";

/** Adds the room token's perspective (`agent=`) to a query. */
export function withAgent(q) {
  if (S.perspective) q.set("agent", S.perspective);
  return q;
}

/** The identity actions and the CEL console act as. */
export const actingAs = () => S.perspective || S.data?.self || "";

/** One request with the bearer token; never throws: a network failure is status 0. */
export async function api(method, path, body) {
  const headers = { authorization: "Bearer " + S.token };
  if (body !== undefined) headers["content-type"] = "application/json";
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch (e) {
    return { status: 0, json: { error: "network_error", message: String(e?.message || e) } };
  }
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = { error: "bad_response", message: text.slice(0, 200) };
  }
  return { status: res.status, json };
}
