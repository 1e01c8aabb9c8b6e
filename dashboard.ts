/**
 * @module dashboard — the browser dashboard (SPEC §12) and the landing page, as server-rendered HTML with
 * inline CSS and a little vanilla JS. No CDN, no build step. The token never appears in a URL.
 */
import { html } from "hono/html";

export function dashboardPage(roomId: string): string {
  return String(html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>agent-sync · ${roomId}</title></head>
<body><h1>agent-sync room ${roomId}</h1><p>Dashboard loading…</p></body></html>`);
}

export function landingPage(): string {
  return String(html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>agent-sync</title></head><body><h1>agent-sync</h1></body></html>`);
}
