/**
 * @module cel_values — JSON ↔ CEL values: ints as BigInt, maps with a "constructor" key as Map, deep values
 * copied iteratively (a stored value may be deeper than the call stack allows).
 */
/** A map as CEL gets it: a plain object, or a Map when one of its keys is "constructor" (see celMap). */
export type CelMap = Record<string, unknown> | Map<string, unknown>;

/**
 * cel-js tells a map from other objects by its `constructor` property, which an own key of that name hides
 * ("Unsupported type"): such an object goes to CEL as a Map. Every map built for CEL (scopes, agents,
 * actions, converted values; the context's state, views and params at evaluation) passes here.
 */
export function celMap(o: Record<string, unknown>): CelMap {
  return Object.hasOwn(o, "constructor") ? new Map(Object.entries(o)) : o;
}

/** A copy of a CEL map with `key` set to `value`, or removed when `value` is undefined. */
export function celWith(m: CelMap, key: string, value: unknown): CelMap {
  if (m instanceof Map) {
    const copy = new Map(m);
    if (value === undefined) copy.delete(key);
    else copy.set(key, value);
    return copy;
  }
  const copy = { ...m };
  if (value === undefined) delete copy[key];
  else copy[key] = value;
  return celMap(copy);
}

/** The keys of a CEL map. */
export function celKeys(m: CelMap): string[] {
  return m instanceof Map ? [...m.keys()] : Object.keys(m);
}

/** The maps of an evaluation context keyed by names a client chooses (state, views, params), made CEL-safe. */
const NAMED_MAPS = ["state", "views", "params"] as const;
export function safeContext(ctx: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const name of NAMED_MAPS) {
    const m = ctx[name];
    if (m === null || typeof m !== "object" || m instanceof Map || !Object.hasOwn(m, "constructor")) continue;
    // copy the descriptors: lazily built members (agents, actions) stay lazy
    out ??= Object.defineProperties({}, Object.getOwnPropertyDescriptors(ctx));
    out[name] = celMap(m as Record<string, unknown>);
  }
  return out ?? ctx;
}

/** A container being filled in by `copyDeep`. */
type Shell = unknown[] | CelMap;

/**
 * The walk both conversions share, with an explicit stack (a value stored before the nesting limit existed
 * may be deeper than the call stack allows): `member(x, fill)` says what `x` becomes — a value, or an
 * empty container handed to `fill`, which copies x's members into it (each through `member`) later.
 */
function copyDeep(v: unknown, member: (x: unknown, fill: (src: object, out: Shell) => Shell) => unknown) {
  const work: [object, Shell][] = [];
  const fill = (src: object, out: Shell) => (work.push([src, out]), out);
  const root = member(v, fill);
  for (let job = work.pop(); job; job = work.pop()) {
    const [src, out] = job;
    if (Array.isArray(src)) { for (const x of src) (out as unknown[]).push(member(x, fill)); }
    else if (src instanceof Map) { for (const [k, x] of src) put(out, String(k), member(x, fill)); }
    else {
      const o = src as Record<string, unknown>;
      for (const k in o) if (Object.hasOwn(o, k)) put(out, k, member(o[k], fill));
    }
  }
  return root;
}

function put(out: Shell, k: string, v: unknown): void {
  if (out instanceof Map) out.set(k, v);
  else (out as Record<string, unknown>)[k] = v;
}

/**
 * JSON → CEL: integral numbers become int (BigInt) so `turn + 1` works; an object with a key "constructor"
 * becomes a Map (celMap). Iterative (copyDeep).
 */
export function toCel(v: unknown): unknown {
  if (v === null || typeof v !== "object") return celLeaf(v);
  return copyDeep(v, (x, fill) => {
    if (x === null || typeof x !== "object") return celLeaf(x);
    return fill(x, Array.isArray(x) ? [] : Object.hasOwn(x, "constructor") ? new Map() : {});
  });
}

function celLeaf(v: unknown): unknown {
  return typeof v === "number" && Number.isInteger(v) ? BigInt(v) : v;
}

/** CEL → JSON: ints back to numbers, maps to objects, other library types to strings. Iterative (copyDeep). */
export function fromCel(v: unknown): unknown {
  if (typeof v === "bigint") return Number(v);
  if (v === null || typeof v !== "object") return v;
  return copyDeep(v, (x, fill) => {
    if (typeof x === "bigint") return Number(x);
    if (x === null || typeof x !== "object") return x;
    if (Array.isArray(x)) return fill(x, []);
    if (x instanceof Map) return fill(x, {});
    if (x instanceof Uint8Array) return Array.from(x);
    const proto = Object.getPrototypeOf(x);
    return proto === Object.prototype || proto === null ? fill(x, {}) : libraryValue(x);
  });
}

/** A value of one of cel-js's own types (timestamp, uint, duration, …) as JSON. */
function libraryValue(v: object): unknown {
  if (v instanceof Date) return v.toISOString();
  if ("valueOf" in v && typeof (v as { valueOf(): unknown }).valueOf() === "bigint") {
    return Number((v as { valueOf(): bigint }).valueOf());
  }
  return String(v);
}
