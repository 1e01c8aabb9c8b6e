/**
 * @module engine/write_checks — the one rule for each thing a write names or stores, wherever it comes from
 * (a body, a template, a CEL result, an import): scope names, keys, and values (size and shape).
 */
import { ID_PATTERN, type Limits, MAX_KEY_LENGTH } from "../config.ts";
import { ApiError } from "../errors.ts";
import { checkJsonValue } from "../json_shape.ts";

export function checkScopeName(scope: string, field = "scope"): void {
  const bare = scope.startsWith("_") ? scope.slice(1) : scope;
  if (!ID_PATTERN.test(bare)) {
    throw new ApiError(
      "invalid_id",
      `${field} must be 1-128 characters of [A-Za-z0-9._:-] (optionally after _)`,
      {
        field,
      },
    );
  }
}

/** U+0000–U+001F and U+007F: invisible, and NUL once let `k\u0000x` stand for `k` in memory. */
function hasControlCharacter(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** The one rule for state keys, wherever a key comes from: 1–256 characters, no control characters. */
export function checkKey(key: unknown, field = "key"): string {
  const k = typeof key === "number" ? String(key) : key;
  if (typeof k !== "string" || k.length === 0 || k.length > MAX_KEY_LENGTH) {
    throw new ApiError("invalid_body", `${field} must be a string of 1-${MAX_KEY_LENGTH} characters`, {
      field,
    });
  }
  if (hasControlCharacter(k)) {
    throw new ApiError(
      "invalid_body",
      `${field} may not contain control characters (U+0000–U+001F, U+007F)`,
      {
        field,
      },
    );
  }
  return k;
}

/**
 * The one check of a value the server is asked to store, wherever it was built (a body, a template, a CEL
 * result, a merge, an increment): nesting, finite numbers, no `__proto__` keys (json_shape.ts), and at most
 * `max` characters of JSON (`400 value_too_large {field, limit}`). Returns its JSON length.
 */
export function checkValue(
  value: unknown,
  limits: Limits,
  field: string,
  max = limits.maxValueBytes,
): number {
  checkJsonValue(value, field, limits.maxJsonDepth);
  const n = JSON.stringify(value ?? null).length;
  if (n > max) {
    throw new ApiError("value_too_large", `${field} is ${n} bytes of JSON; the limit is ${max}`, {
      field,
      limit: max,
    });
  }
  return n;
}
