/**
 * @module json_shape — the shape every JSON value the server takes must have: nested no deeper than the
 * limit, numbers finite, no `__proto__` keys. A body's text is measured before it is parsed, a value after;
 * both without recursion, so no input can overflow the stack. Knows nothing of HTTP or rooms.
 */
import { ApiError } from "./errors.ts";

const OPEN_ARRAY = 0x5b, OPEN_OBJECT = 0x7b, CLOSE_ARRAY = 0x5d, CLOSE_OBJECT = 0x7d;
const QUOTE = 0x22, BACKSLASH = 0x5c;

/**
 * Refuses a JSON text nested deeper than `limit` (`[]` and `{}` are depth 1) before anything is built from
 * it: `400 too_deep {field: "body", limit}`. Brackets inside strings do not count; malformed text is left to
 * the parser.
 */
export function checkTextDepth(text: string, limit: number): void {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === QUOTE) {
      // skip the string: its brackets are characters, not nesting
      for (i++; i < text.length; i++) {
        const c = text.charCodeAt(i);
        if (c === BACKSLASH) i++;
        else if (c === QUOTE) break;
      }
    } else if (ch === OPEN_ARRAY || ch === OPEN_OBJECT) {
      if (++depth > limit) throw tooDeep("body", "the request body", limit);
    } else if (ch === CLOSE_ARRAY || ch === CLOSE_OBJECT) depth--;
  }
}

/**
 * Refuses a value that is not plain JSON as the server stores it: nested deeper than `limit` →
 * `400 too_deep {field, limit}`; a number that is not finite (`1e400` parses as Infinity, `1.0/0.0` in CEL)
 * or an object key `__proto__` → `400 invalid_body {field: <where>}`. `field` names the value (`""` is a
 * request body: paths then start at its top level).
 */
export function checkJsonValue(v: unknown, field: string, limit: number): void {
  if (v === null || typeof v !== "object") {
    if (typeof v === "number" && !Number.isFinite(v)) throw notFinite(field || "body");
    return;
  }
  if (firstProblem(v, limit, false)) throw describe(v, field, limit);
}

type Problem = "depth" | "number" | "proto";

/**
 * Walks the value with an explicit stack. Without `withPaths` it only says whether something is wrong
 * (the common case allocates nothing per node); with it, it returns where.
 */
function firstProblem(root: object, limit: number, withPaths: false): Problem | undefined;
function firstProblem(root: object, limit: number, withPaths: true): [Problem, string] | undefined;
function firstProblem(root: object, limit: number, withPaths: boolean) {
  const values: unknown[] = [root];
  const depths: number[] = [1];
  const paths: string[] = [""];
  while (values.length) {
    const v = values.pop() as object;
    const depth = depths.pop()!;
    const path = withPaths ? paths.pop()! : "";
    if (depth > limit) return withPaths ? ["depth", path] : "depth";
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) {
        const x = v[i];
        if (x !== null && typeof x === "object") {
          values.push(x), depths.push(depth + 1);
          if (withPaths) paths.push(`${path}[${i}]`);
        } else if (typeof x === "number" && !Number.isFinite(x)) {
          return withPaths ? ["number", `${path}[${i}]`] : "number";
        }
      }
      continue;
    }
    for (const k in v) {
      if (!Object.hasOwn(v, k)) continue;
      const at = withPaths ? (path ? `${path}.${k}` : k) : "";
      if (k === "__proto__") return withPaths ? ["proto", at] : "proto";
      const x = (v as Record<string, unknown>)[k];
      if (x !== null && typeof x === "object") {
        values.push(x), depths.push(depth + 1);
        if (withPaths) paths.push(at);
      } else if (typeof x === "number" && !Number.isFinite(x)) return withPaths ? ["number", at] : "number";
    }
  }
  return undefined;
}

function describe(v: object, field: string, limit: number): ApiError {
  const [problem, path] = firstProblem(v, limit, true)!;
  const where = field && path ? (path.startsWith("[") ? field + path : `${field}.${path}`) : field || path;
  if (problem === "depth") return tooDeep(field || "body", field || "the request body", limit);
  if (problem === "number") return notFinite(where || "body");
  return new ApiError("invalid_body", `${where}: an object key may not be "__proto__"`, { field: where });
}

function tooDeep(field: string, what: string, limit: number): ApiError {
  return new ApiError("too_deep", `${what} nests arrays and objects deeper than ${limit} levels`, {
    field,
    limit,
  });
}

function notFinite(field: string): ApiError {
  return new ApiError(
    "invalid_body",
    `${field}: numbers must be finite (JSON has no Infinity or NaN; this one is out of the double range)`,
    { field },
  );
}
