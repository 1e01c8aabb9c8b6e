/**
 * @module engine/templates — `${self}`, `${now}`, `${params.x.y}` substitution in write templates
 * (reference/api.md#custom-actions, invocation step 4), and the names of an expired lease's templates
 * (`${holder}`, `${scope}`, `${key}`, `${epoch}`, `${now}`): values and object keys, deep, one pass; a string
 * that is exactly one placeholder
 * keeps the JSON type of what it names. Substituted text is never scanned again.
 */
import { type CelLimits, compile } from "../cel.ts";
import { ApiError } from "../errors.ts";
import { TimerSpec } from "../timers.ts";

/** What placeholders name: their first segment is a field here (`params.x.y` walks into `params`). */
export type TemplateVars = Record<string, unknown>;

/** The names an action's templates may use besides `params.<declared>`. */
export const ACTION_NAMES: readonly string[] = ["self", "now"];
/** The names an expired lease's templates (`on_expire`) may use. */
export const EXPIRY_NAMES: readonly string[] = ["holder", "scope", "key", "epoch", "now"];

const PLACEHOLDER = /\$\{([^${}]*)\}/g;
const EXACT = /^\$\{([^${}]*)\}$/;
const PARAM = /^params(\.[A-Za-z0-9_-]+)+$/;

function lookup(path: string, vars: TemplateVars): unknown {
  let v: unknown = vars;
  for (const part of path.split(".")) {
    // own properties only: `${params.o.constructor}` names nothing unless `o` has such a field
    if (v === null || typeof v !== "object" || !Object.hasOwn(v, part)) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

function stringify(v: unknown): string {
  if (v === undefined || v === null) return "";
  return typeof v === "string" ? v : JSON.stringify(v);
}

export function resolveString(s: string, vars: TemplateVars): unknown {
  const exact = EXACT.exec(s);
  if (exact) return lookup(exact[1].trim(), vars) ?? null;
  if (!s.includes("${")) return s;
  return s.replace(PLACEHOLDER, (_, p: string) => stringify(lookup(p.trim(), vars)));
}

/** Substitutes placeholders everywhere in a JSON value. */
export function resolveTemplate(v: unknown, vars: TemplateVars): unknown {
  if (typeof v === "string") return resolveString(v, vars);
  if (Array.isArray(v)) return v.map((x) => resolveTemplate(x, vars));
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[stringify(resolveString(k, vars))] = resolveTemplate(x, vars);
    return out;
  }
  return v;
}

/**
 * Registration-time check: every placeholder is one of `names` or `params.<declared param>` (`declared`
 * null: no params at all).
 */
export function checkTemplate(
  v: unknown,
  field: string,
  declared: Set<string> | null,
  names: readonly string[] = ACTION_NAMES,
): void {
  const visit = (x: unknown, path: string) => {
    if (typeof x === "string") {
      for (const m of x.matchAll(PLACEHOLDER)) {
        const name = m[1].trim();
        const param = declared !== null && PARAM.test(name);
        if (!param && !names.includes(name)) {
          throw new ApiError("invalid_template", `${path} uses unknown placeholder \${${m[1]}}`, {
            field: path,
            placeholder: m[0],
          });
        }
        if (param && !declared!.has(name.split(".")[1])) {
          throw new ApiError(
            "invalid_template",
            `${path} uses \${${name}} but the action declares no param ${name.split(".")[1]}`,
            {
              field: path,
              placeholder: m[0],
            },
          );
        }
      }
    } else if (Array.isArray(x)) x.forEach((y, i) => visit(y, `${path}[${i}]`));
    else if (x !== null && typeof x === "object") {
      for (const [k, y] of Object.entries(x)) {
        visit(k, `${path} key ${JSON.stringify(k)}`);
        visit(y, `${path}.${k}`);
      }
    }
  };
  visit(v, field);
}

/** What a write template is made of, as far as registration looks at it. */
type TemplateShape = {
  scope?: unknown;
  key?: unknown;
  if?: unknown;
  enabled?: unknown;
  expr?: unknown;
  value?: unknown;
  append?: unknown;
  timer?: unknown;
};

/**
 * The rest of a write template's registration check (its placeholders are `checkTemplate`'s): a scope is
 * required and is never `_audit`, `_messages` takes appends without a key only, every CEL expression
 * compiles, a timer is well formed. Refusals name `field`.
 */
export function checkWriteTemplate(w: TemplateShape, field: string, limits: CelLimits): void {
  if (w.scope === undefined) {
    throw new ApiError("invalid_body", `${field}.scope is required`, { field: `${field}.scope` });
  }
  if (w.if !== undefined) compile(w.if, limits, `${field}.if`);
  if (w.enabled !== undefined && w.enabled !== null) compile(w.enabled, limits, `${field}.enabled`);
  if (w.expr) {
    if (typeof w.value !== "string") {
      throw new ApiError("invalid_body", `${field}.value must be a CEL string when expr is true`, {
        field: `${field}.value`,
      });
    }
    compile(w.value, limits, `${field}.value`);
  }
  if (w.timer) TimerSpec.parse(w.timer);
  if (w.scope === "_audit") {
    throw new ApiError("scope_denied", `${field} writes _audit, which nobody writes`, {
      field: `${field}.scope`,
    });
  }
  if (w.scope === "_messages" && (!w.append || w.key !== undefined)) {
    throw new ApiError("invalid_body", `${field}: the _messages log only takes appends without a key`, {
      field,
    });
  }
}
