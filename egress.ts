/**
 * @module egress — where the server may send requests of its own (webhook deliveries): `http(s)` targets
 * only, and never a private, loopback, link-local or otherwise non-global address (IPv4, IPv6 and the IPv6
 * forms that embed an IPv4 one) unless allowed. Checked on the URL at registration, and on every address a
 * name resolves to before connecting — to that same address, so a name cannot re-bind in between.
 */
import { lookup } from "node:dns/promises";
import { ApiError } from "./errors.ts";

/** A host name → its addresses (injectable for tests; the system's resolver otherwise). */
export type Resolver = (host: string) => Promise<string[]>;

export const systemResolver: Resolver = async (host) =>
  (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

/** Where one request goes: the checked `address`, and the name the Host header and TLS speak to. */
export type Target = { address: string; port: number; tls: boolean; servername: string; hostHeader: string };

/** A target refused by the policy, or one that could not be resolved (a delivery's recorded error). */
export class EgressRefused extends Error {
  constructor(message: string, readonly reason: string) {
    super(message);
  }
}

// ── address classes ──────────────────────────────────────────────────────────────────────────────

/** IPv4 ranges that are not global unicast (RFC 6890), as [first octets as a number, prefix, class]. */
const V4_RANGES: [number, number, string][] = [
  [0x00000000, 8, "unspecified"],
  [0x0a000000, 8, "private"],
  [0x64400000, 10, "private"], // 100.64/10, carrier-grade NAT
  [0x7f000000, 8, "loopback"],
  [0xa9fe0000, 16, "link_local"],
  [0xac100000, 12, "private"],
  [0xc0000000, 24, "reserved"],
  [0xc0000200, 24, "reserved"], // documentation
  [0xc0586300, 24, "reserved"], // 6to4 relay anycast
  [0xc0a80000, 16, "private"],
  [0xc6120000, 15, "reserved"], // benchmarking
  [0xc6336400, 24, "reserved"],
  [0xcb007100, 24, "reserved"],
  [0xe0000000, 4, "multicast"],
  [0xf0000000, 4, "reserved"], // and 255.255.255.255
];

export function parseIPv4(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const o = m.slice(1).map(Number);
  if (o.some((x) => x > 255)) return undefined;
  return ((o[0] << 24) | (o[1] << 16) | (o[2] << 8) | o[3]) >>> 0;
}

function v4Class(a: number): string | null {
  for (const [base, bits, cls] of V4_RANGES) {
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    if (((a & mask) >>> 0) === base) return cls;
  }
  return null;
}

/** Eight 16-bit groups, or undefined (a zone id `%…` is dropped: the address is what it scopes). */
export function parseIPv6(input: string): number[] | undefined {
  let s = input.split("%")[0];
  if (!s.includes(":")) return undefined;
  let tail: number[] = [];
  const dotted = /^(.*:)(\d{1,3}(?:\.\d{1,3}){3})$/.exec(s);
  if (dotted) {
    const v4 = parseIPv4(dotted[2]);
    if (v4 === undefined) return undefined;
    tail = [v4 >>> 16, v4 & 0xffff];
    s = dotted[1].endsWith("::") ? dotted[1] : dotted[1].slice(0, -1);
  }
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const groups = (h: string) => (h === "" ? [] : h.split(":"));
  const head = groups(halves[0]);
  const rest = halves.length === 2 ? groups(halves[1]) : [];
  if ([...head, ...rest].some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return undefined;
  const given = head.length + rest.length + tail.length;
  if (halves.length === 1 ? given !== 8 : given > 7) return undefined;
  const zeros = Array(8 - given).fill(0);
  return [...head.map((g) => parseInt(g, 16)), ...zeros, ...rest.map((g) => parseInt(g, 16)), ...tail];
}

function v6Class(g: number[]): string | null {
  const zero = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  const v4 = (hi: number, lo: number) => v4Class(((hi << 16) | lo) >>> 0);
  if (zero(0, 8)) return "unspecified";
  if (zero(0, 7) && g[7] === 1) return "loopback";
  if (zero(0, 5) && g[5] === 0xffff) return v4(g[6], g[7]); // ::ffff:a.b.c.d, IPv4-mapped
  if (zero(0, 4) && g[4] === 0xffff && g[5] === 0) return v4(g[6], g[7]); // ::ffff:0:a.b.c.d
  if (zero(0, 6)) return v4(g[6], g[7]) ?? "reserved"; // ::a.b.c.d, IPv4-compatible (deprecated)
  if (g[0] === 0x64 && g[1] === 0xff9b && zero(2, 6)) return v4(g[6], g[7]); // NAT64
  if (g[0] === 0x64 && g[1] === 0xff9b && g[2] === 1) return "private"; // local-use NAT64
  if (g[0] === 0x2002) return v4(g[1], g[2]) ?? null; // 6to4 carries an IPv4 address
  if (g[0] === 0x2001 && g[1] === 0) return "reserved"; // Teredo tunnels to an embedded IPv4 address
  if (g[0] === 0x2001 && g[1] === 0xdb8) return "reserved"; // documentation
  if ((g[0] & 0xfe00) === 0xfc00) return "private"; // unique local
  if ((g[0] & 0xffc0) === 0xfe80) return "link_local";
  if ((g[0] & 0xffc0) === 0xfec0) return "private"; // site-local (deprecated)
  if ((g[0] & 0xff00) === 0xff00) return "multicast";
  if ((g[0] & 0xe000) !== 0x2000) return "reserved"; // outside 2000::/3, global unicast
  return null;
}

/**
 * The class of an IP address that may not be reached (`loopback`, `private`, `link_local`, `unspecified`,
 * `multicast`, `reserved`), null for a global unicast one, undefined when `ip` is not an address.
 */
export function addressClass(ip: string): string | null | undefined {
  const bare = ip.startsWith("[") && ip.endsWith("]") ? ip.slice(1, -1) : ip;
  const v4 = parseIPv4(bare);
  if (v4 !== undefined) return v4Class(v4);
  const v6 = parseIPv6(bare);
  return v6 ? v6Class(v6) : undefined;
}

/** Names that only mean something on a local network (refused like the addresses they stand for). */
function isLocalName(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, "");
  if (!h.includes(".")) return true; // single-label: resolved through the local search domains
  return /(^|\.)(localhost|local|internal|lan|home\.arpa)$/.test(h);
}

// ── the checks ───────────────────────────────────────────────────────────────────────────────────

/**
 * A webhook URL as registration accepts it: `http:` or `https:`, no credentials, and (unless private targets
 * are allowed) neither a non-global address nor a local name. `400 invalid_body` for a malformed URL,
 * `400 url_not_allowed` with `reason` for a refused one. The URL itself is not echoed in messages.
 */
export function checkTargetUrl(raw: string, allowPrivate: boolean, field = "url"): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ApiError("invalid_body", `${field} is not a valid absolute URL`, { field });
  }
  const refuse = (reason: string, message: string): never => {
    throw new ApiError("url_not_allowed", message, { field, reason });
  };
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    refuse("scheme", `${field} must be an http or https URL, not ${url.protocol.slice(0, 16)}`);
  }
  if (url.username || url.password) {
    refuse("credentials", `${field} must not carry credentials; the secret signs each delivery`);
  }
  url.hash = "";
  if (allowPrivate) return url;
  const cls = addressClass(url.hostname);
  if (cls) refuse(cls, `${field} points to a ${cls.replace("_", "-")} address, which webhooks may not reach`);
  if (cls === undefined && isLocalName(url.hostname)) {
    refuse("local_name", `${field} names a local host (${url.hostname}), which webhooks may not reach`);
  }
  return url;
}

/**
 * The address one delivery connects to: an address literal as it is, a name resolved with `resolve` —
 * every address it resolves to must be allowed (one private answer refuses the name), and the first is used.
 */
export async function resolveTarget(url: URL, resolve: Resolver, allowPrivate: boolean): Promise<Target> {
  const tls = url.protocol === "https:";
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  const base = {
    port: Number(url.port) || (tls ? 443 : 80),
    tls,
    servername: host,
    hostHeader: url.host,
  };
  const literal = addressClass(host);
  if (literal !== undefined) {
    if (literal && !allowPrivate) throw new EgressRefused(`${host} is a ${literal} address`, literal);
    return { ...base, address: host };
  }
  if (!allowPrivate && isLocalName(host)) throw new EgressRefused(`${host} is a local name`, "local_name");
  let addresses: string[];
  try {
    addresses = await resolve(host);
  } catch (e) {
    throw new EgressRefused(`${host} could not be resolved: ${(e as Error).message}`, "unresolved");
  }
  if (!addresses.length) throw new EgressRefused(`${host} resolves to no address`, "unresolved");
  for (const a of addresses) {
    const cls = addressClass(a);
    if (cls === undefined) throw new EgressRefused(`${host} resolves to ${a}, not an address`, "unresolved");
    if (cls && !allowPrivate) throw new EgressRefused(`${host} resolves to ${a}, a ${cls} address`, cls);
  }
  return { ...base, address: addresses[0] };
}
