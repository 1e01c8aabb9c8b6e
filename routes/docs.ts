/**
 * @module routes/docs — the served documentation and the browser pages.
 *
 *   GET /                   README as text/markdown; the dashboard with ?room=; the landing page for browsers
 *   GET /SKILL.md           the README (an agent's skill file)
 *   GET /reference/:file    the files of reference/ (the API reference)
 *   GET /docs/:file         the files of docs/ (the guides)
 *   GET /dashboard/:version/:file   the pages' ES modules and stylesheets (dashboard/*.js, *.css)
 */
import { Hono } from "hono";
import { ApiError } from "../errors.ts";
import { assetResponse, dashboardPage, landingPage, PAGE_HEADERS } from "../dashboard.ts";
import type { AppEnv } from "./http.ts";

const root = new URL("../", import.meta.url);
const cache = new Map<string, string>();

async function doc(path: string): Promise<string> {
  let text = cache.get(path);
  if (text === undefined) {
    text = await Deno.readTextFile(new URL(path, root));
    cache.set(path, text);
  }
  return text;
}

const markdown = (text: string) =>
  new Response(text, { headers: { "content-type": "text/markdown; charset=utf-8" } });
const page = (text: string) => new Response(text, { headers: PAGE_HEADERS });

export const docRoutes = new Hono<AppEnv>()
  .get("/", async (c) => {
    const room = c.req.query("room");
    if (room !== undefined) return page(dashboardPage(room));
    const accept = c.req.header("accept") ?? "";
    if (/text\/html/.test(accept)) return page(landingPage());
    return markdown(await doc("README.md"));
  })
  .get("/dashboard/:version/:file", (c) => {
    const file = c.req.param("file");
    const res = assetResponse(c.req.param("version"), file);
    if (!res) throw new ApiError("not_found", `no dashboard file ${JSON.stringify(file)}`, { file });
    return res;
  })
  .get("/SKILL.md", async () => markdown(await doc("README.md")))
  .get("/reference/:file", (c) => served("reference", "reference document", c.req.param("file")))
  .get("/docs/:file", (c) => served("docs", "guide", c.req.param("file")));

/** A Markdown file of one of the served folders, or `404 not_found` (only plain `name.md` names). */
async function served(dir: string, what: string, file: string): Promise<Response> {
  if (!/^[a-z_-]+\.md$/.test(file)) throw new ApiError("not_found", `no ${what} ${JSON.stringify(file)}`);
  try {
    return markdown(await doc(`${dir}/${file}`));
  } catch {
    throw new ApiError("not_found", `no ${what} ${JSON.stringify(file)}`, { file });
  }
}
